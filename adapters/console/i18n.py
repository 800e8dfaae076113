"""The console's words in English and Chinese, and the pipeline's labels in either.

Stage and status labels come from the pipeline itself (``label`` and ``labels.<lang>``);
only the console's own words are here. A word missing in a language falls back to
English, so a page never shows a key.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LANGUAGES", "Texts", "label_of", "stage_labels", "texts_for"]

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
}


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
