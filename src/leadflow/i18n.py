"""The words of the web console and of the HTML report (``leadflow report --out``) in English
and Chinese, and the pipeline's labels in either: one catalogue for every page leadflow writes.

Stage and status labels come from the pipeline itself (``label`` and ``labels.<lang>``);
only the pages' own words are here (the report's keys start with ``report_``; a ``{name}``
in a word is filled in by the page, and a key ending in ``_html`` holds markup). A word
missing in a language falls back to English, so a page never shows a key.
"""

from __future__ import annotations

from typing import Any

# The Chinese words use full-width punctuation (commas, colons, brackets), on purpose.
# ruff: noqa: RUF001

__all__ = ["CATALOGUE", "LANGUAGES", "Texts", "label_of", "stage_labels", "texts_for"]

LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}

_EN: dict[str, str] = {
    "app": "leadflow console",
    "funnel": "Funnel",
    "leads": "Leads",
    "pool": "Pool",
    "reps": "Reps",
    "pipeline": "Pipeline",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "token": "API token",
    "as_of": "As of",
    "as_known_at": "As known at",
    "latest": "everything recorded",
    "or": "or",
    "skip_policy": "Skip policy",
    "cohort_from": "Captured from",
    "cohort_to": "Captured to",
    "by": "Breakdown",
    "none": "none",
    "show": "Show",
    "stage": "Stage",
    "in_stage": "In stage",
    "reached": "Reached",
    "passed": "Passed",
    "conversion_to_next": "Conversion to next",
    "group": "Group",
    "status": "Status",
    "owner": "Owner",
    "source": "Source",
    "campaign": "Campaign",
    "region": "Region",
    "score": "Score",
    "captured_at": "Captured",
    "last_event_at": "Last event",
    "lead": "Lead",
    "events": "Events",
    "claim": "Claim",
    "live": "live",
    "previous": "Previous",
    "next": "Next",
    "filter": "Filter",
    "timeline": "Timeline",
    "business_time": "Business time",
    "recorded_at": "Recorded",
    "actor": "Actor",
    "rule": "Rule",
    "pipeline_version": "Pipeline version",
    "score_steps": "Score, step by step",
    "handoffs": "Hand-offs",
    "sla": "SLA",
    "recorded_later": "recorded after the as-known-at instant",
    "backdated": "backdated",
    "daily_limit": "Daily claim limit",
    "claimed_today": "claimed today",
    "capacity": "Capacity",
    "load": "Open leads",
    "absences": "Absences",
    "performance": "Performance",
    "breaches": "SLA breaches",
    "escalations": "Escalations",
    "versions": "Version history",
    "diff": "Differences",
    "language": "Language",
    "hidden": "hidden",
    "personal_hidden": "personal fields are hidden for this token",
    "rep_only": "this rep token sees its own leads and the pool",
    # the HTML report (projections/report.py)
    "report_title": "leadflow report as of {as_of}",
    "report_heading": "Lead funnel report",
    "report_intro": "Pipeline {pipeline} ({version}), as of {as_of}{known}{cohort}. Every figure "
    "is a projection of the event log.",
    "report_known": ", as known at {known} (only what had been recorded by then; the stages and "
    "labels of the pipeline version in force then)",
    "report_cohort": ", over the leads captured from {start} to {end}",
    "report_definitions_html": "Definitions: only live leads count (a duplicate merged into "
    "another lead counts\nnowhere until it is unmerged). <b>in_stage</b>: live leads in the stage "
    "at the instant (they add\nup to the live leads); <b>reached</b>: live leads that were ever "
    "in the stage; <b>passed</b>: live\nleads that reached the stage or any later stage of the "
    "main path (a lead that skipped a stage has\npassed it); <b>conversion_to_next</b>: passed of "
    "the next stage &divide; passed of this one, never\nabove 100%. These are the numbers of "
    "<code>leadflow funnel --json</code> for the same instants.",
    "report_funnel": "Funnel",
    "report_funnel_chart": "Funnel: leads that passed each stage",
    "report_funnel_bar": "passed {passed}, reached {reached}, in_stage {in_stage}",
    "report_funnel_bar_conversion": ", conversion_to_next {conversion}",
    "report_stage": "stage",
    "report_in_stage": "in_stage",
    "report_reached": "reached",
    "report_passed": "passed",
    "report_conversion_to_next": "conversion_to_next",
    "report_live_leads": "{live} live leads.",
    "report_over_time": "Conversion over time",
    "report_over_time_chart": "Share of each month's captures that passed each stage",
    "report_captured_in": "captured in",
    "report_leads": "leads",
    "report_over_time_note_html": "Monthly cohorts: the live leads captured in each month (UTC) "
    "and how many of them\nhad passed each stage by then (the latest {months} months; "
    "<code>leadflow funnel --by\ncohort</code>). A young cohort has had less time to convert.",
    "report_by_source": "Conversion by source",
    "report_by_source_chart": "Share of leads that became {stage}",
    "report_share_of": "{share} of {leads}",
    "report_source": "source",
    "report_by_source_note": "Share of each source's live leads that passed each stage "
    "(attribution as\ncaptured).",
    "report_period": "Entered in the period {span}",
    "report_entered": "entered",
    "report_period_median": "time in stage: median days",
    "report_still_in": "still in it",
    "report_period_note_html": "Stage entries whose time falls on those days (UTC, both "
    "included), as of\n{as_of}: what <code>leadflow report stages --period</code>\ncounts. The "
    "median is by Kaplan&ndash;Meier: leads still in the stage are censored at their time\nso "
    "far, not counted as finished.",
    "report_revenue": "Revenue",
    "report_won_chart": "Won amounts by month",
    "report_won_bar": "{amount} {currency} ({deals} deals)",
    "report_month": "month",
    "report_currency": "currency",
    "report_deals": "deals",
    "report_amount": "amount",
    "report_open_pipeline": "open pipeline",
    "report_expected_amount": "expected amount",
    "report_revenue_note_html": "Won deals by the month they were won, per currency (amounts are "
    "never converted);\nthe open pipeline is the converted leads not yet won or lost, by their "
    "stage, with the amount\ngiven at conversion: <code>leadflow report revenue</code>.",
    "report_sla": "Hand-off SLA compliance",
    "report_all_reps": "all reps",
    "report_met": "met",
    "report_late": "late",
    "report_pending": "pending",
    "report_overdue": "overdue",
    "report_sla_note": "{share} of hand-offs that came due met the SLA",
    "report_reps": "Reps",
    "report_rep": "rep",
    "report_assigned": "assigned",
    "report_followed_up": "followed up",
    "report_first_touch": "time to first touch: median days",
    "report_handoffs_received": "hand-offs received",
    "report_sla_met": "hand-off SLA met",
    "report_converted": "converted",
    "report_reps_note_html": "Ownership periods that began by then (assignments, claims, "
    "accepted hand-offs),\nthose with a follow-up, the median days to it (Kaplan&ndash;Meier: "
    "periods without one are\ncensored), the hand-offs the rep received and the share that met "
    "the SLA (met &divide; met, late\nand overdue), and the periods in which the lead converted: "
    "<code>leadflow report reps</code>.",
    "report_time_in_stage": "Time in stage",
    "report_time_in_stage_note": "Stage intervals that had ended by then, by how long they lasted.",
    "report_under_1_day": "< 1 day",
    "report_1_3_days": "1-3d",
    "report_3_7_days": "3-7d",
    "report_1_2_weeks": "1-2w",
    "report_2_4_weeks": "2-4w",
    "report_1_3_months": "1-3mo",
    "report_over_3_months": "> 3mo",
}

_ZH: dict[str, str] = {
    "app": "leadflow 控制台",
    "funnel": "漏斗",
    "leads": "线索",
    "pool": "公海",
    "reps": "销售",
    "pipeline": "流程",
    "sign_in": "登录",
    "sign_out": "退出",
    "token": "API 令牌",
    "as_of": "业务时间截至",
    "as_known_at": "记录时间截至",
    "latest": "全部已记录",
    "or": "或",
    "skip_policy": "跳级规则",
    "cohort_from": "获取起始",
    "cohort_to": "获取截止",
    "by": "细分",
    "none": "无",
    "show": "查看",
    "stage": "阶段",
    "in_stage": "当前在此阶段",
    "reached": "到达过",
    "passed": "通过",
    "conversion_to_next": "转化到下一阶段",
    "group": "分组",
    "status": "状态",
    "owner": "负责人",
    "source": "来源",
    "campaign": "活动",
    "region": "区域",
    "score": "评分",
    "captured_at": "获取时间",
    "last_event_at": "最近事件",
    "lead": "线索",
    "events": "事件",
    "claim": "领取",
    "live": "实时",
    "previous": "上一页",
    "next": "下一页",
    "filter": "筛选",
    "timeline": "时间线",
    "business_time": "业务时间",
    "recorded_at": "记录时间",
    "actor": "操作者",
    "rule": "规则",
    "pipeline_version": "流程版本",
    "score_steps": "评分逐步说明",
    "handoffs": "移交",
    "sla": "时限",
    "recorded_later": "在所选记录时间之后才记录",
    "backdated": "补录",
    "daily_limit": "每日领取上限",
    "claimed_today": "今日已领取",
    "capacity": "容量",
    "load": "在手线索",
    "absences": "缺勤",
    "performance": "绩效",
    "breaches": "超时",
    "escalations": "升级",
    "versions": "版本历史",
    "diff": "差异",
    "language": "语言",
    "hidden": "已隐藏",
    "personal_hidden": "此令牌不显示个人信息",
    "rep_only": "销售令牌只能看到自己的线索和公海",
    # the HTML report (projections/report.py)
    "report_title": "leadflow 报告，业务时间截至 {as_of}",
    "report_heading": "线索漏斗报告",
    "report_intro": "流程 {pipeline}（{version}），业务时间截至 {as_of}{known}{cohort}。"
    "每个数字都是事件日志的投影。",
    "report_known": "，记录时间截至 {known}（只计当时已记录的事件；阶段与标签取当时生效的流程版本"
    "）",
    "report_cohort": "，只计 {start} 至 {end} 获取的线索",
    "report_definitions_html": "定义：只计有效线索（被合并到另一条线索的重复线索在取消合并之前不计"
    "入任何数字）。"
    "<b>当前在此阶段</b>（<code>in_stage</code>）：该时刻处于此阶段的有效线索（各阶段相加等于有效"
    "线索数）；"
    "<b>到达过</b>（<code>reached</code>）：曾经处于此阶段的有效线索；"
    "<b>通过</b>（<code>passed</code>）：到达此阶段或主路径上任一后续阶段的有效线索（跳过某阶段的"
    "线索也算通过了它）；"
    "<b>转化到下一阶段</b>（<code>conversion_to_next</code>）：下一阶段的通过数 &divide; 此阶段的"
    "通过数，"
    "不会超过 100%。这些数字与同一时刻的 <code>leadflow funnel --json</code> 相同。",
    "report_funnel": "漏斗",
    "report_funnel_chart": "漏斗：通过各阶段的线索",
    "report_funnel_bar": "通过 {passed}，到达过 {reached}，当前在此阶段 {in_stage}",
    "report_funnel_bar_conversion": "，转化到下一阶段 {conversion}",
    "report_stage": "阶段",
    "report_in_stage": "当前在此阶段",
    "report_reached": "到达过",
    "report_passed": "通过",
    "report_conversion_to_next": "转化到下一阶段",
    "report_live_leads": "有效线索 {live} 条。",
    "report_over_time": "转化趋势",
    "report_over_time_chart": "各月获取的线索中通过各阶段的比例",
    "report_captured_in": "获取月份",
    "report_leads": "线索数",
    "report_over_time_note_html": "月度队列：每月（UTC）获取的有效线索，以及其中截至该时刻通过各阶"
    "段的数量"
    "（最近 {months} 个月；<code>leadflow funnel --by cohort</code>）。越新的队列转化时间越短。",
    "report_by_source": "按来源的转化",
    "report_by_source_chart": "成为{stage}的线索比例",
    "report_share_of": "{leads} 条中的 {share}",
    "report_source": "来源",
    "report_by_source_note": "各来源的有效线索中通过各阶段的比例（来源取获取时的记录）。",
    "report_period": "期间 {span} 进入的阶段",
    "report_entered": "进入次数",
    "report_period_median": "停留时间：中位天数",
    "report_still_in": "仍在此阶段",
    "report_period_note_html": "进入时间落在这些日期（UTC，含首尾）的阶段记录，业务时间截至 {as_of"
    "}："
    "即 <code>leadflow report stages --period</code> 所计。中位数按 Kaplan&ndash;Meier 估计："
    "仍在此阶段的线索以其目前的停留时间删失，不算作已完成。",
    "report_revenue": "收入",
    "report_won_chart": "各月赢单金额",
    "report_won_bar": "{amount} {currency}（{deals} 单）",
    "report_month": "月份",
    "report_currency": "币种",
    "report_deals": "单数",
    "report_amount": "金额",
    "report_open_pipeline": "在途商机",
    "report_expected_amount": "预期金额",
    "report_revenue_note_html": "按赢单月份和币种统计的赢单（金额从不换算）；在途商机是已转化、尚"
    "未赢单或丢单的线索，"
    "按其阶段汇总转化时给出的金额：<code>leadflow report revenue</code>。",
    "report_sla": "移交时限达成",
    "report_all_reps": "全部销售",
    "report_met": "按时",
    "report_late": "超时处理",
    "report_pending": "待处理",
    "report_overdue": "已逾期",
    "report_sla_note": "到期的移交中 {share} 按时处理",
    "report_reps": "销售",
    "report_rep": "销售",
    "report_assigned": "分配",
    "report_followed_up": "已跟进",
    "report_first_touch": "首次跟进：中位天数",
    "report_handoffs_received": "收到的移交",
    "report_sla_met": "移交时限达成率",
    "report_converted": "已转化",
    "report_reps_note_html": "截至该时刻开始的负责期（分配、领取、接受移交），其中有跟进的负责期，"
    "到首次跟进的中位天数"
    "（Kaplan&ndash;Meier：没有跟进的负责期删失），销售收到的移交及按时处理的比例"
    "（按时 &divide; 按时、超时处理与已逾期之和），以及期间线索转化的负责期："
    "<code>leadflow report reps</code>。",
    "report_time_in_stage": "阶段停留时间",
    "report_time_in_stage_note": "截至该时刻已结束的阶段记录，按停留时长分布。",
    "report_under_1_day": "< 1 天",
    "report_1_3_days": "1-3 天",
    "report_3_7_days": "3-7 天",
    "report_1_2_weeks": "1-2 周",
    "report_2_4_weeks": "2-4 周",
    "report_1_3_months": "1-3 个月",
    "report_over_3_months": "> 3 个月",
}


CATALOGUE: dict[str, dict[str, str]] = {"en": _EN, "zh": _ZH}
"""Every language's words, by key (read-only: pages go through :func:`texts_for`)."""


class Texts:
    """``t.funnel`` / ``t["funnel"]`` in a template: the word in the page's language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._words = {**_EN, **(_ZH if lang == "zh" else {})}

    def __getitem__(self, key: str) -> str:
        return self._words.get(key, key)

    def __getattr__(self, key: str) -> str:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]


def texts_for(lang: str) -> Texts:
    return Texts(lang if lang in LANGUAGES else "en")


def label_of(config: Any, lang: str) -> str:
    """A stage's or status's label in ``lang`` (its ``labels``), else its ``label``."""
    label: str = config.label_in(lang)
    return label


def stage_labels(pipeline: Any, lang: str) -> dict[str, str]:
    """Every stage of ``pipeline`` → its label in ``lang``, in the pipeline's order."""
    return {name: label_of(config, lang) for name, config in pipeline.stages.items()}
