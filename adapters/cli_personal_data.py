"""``leadflow keys …`` (the master key and the keystore) and ``leadflow store copy``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from leadflow.adapters.cli_support import (
    Actor,
    At,
    Db,
    Json,
    LeadArg,
    Reason,
    emit,
    handles_errors,
    lead_id_of,
    report,
    state,
    store,
    when,
)
from leadflow.errors import InvalidInput

if TYPE_CHECKING:  # each command imports what it uses (``leadflow --help`` loads none)
    from leadflow.service.application import Leadflow

__all__ = ["key_status", "register"]

keys_app = typer.Typer(
    help="The master key and the keystore of personal data.", no_args_is_help=True
)
store_app = typer.Typer(help="Whole-store operations.", no_args_is_help=True)


def key_status(lf: Leadflow) -> dict[str, Any]:
    """Where the master key and the keystore are (the key is loaded, or made, first)."""
    if lf.keys is None:
        return {"master_key": None, "key_id": None, "keystore": None}
    master = lf.keys.master()
    return {
        "master_key": master.source,
        "key_id": master.key_id,
        "keystore": lf.keys.keystore.location,
    }


def register(app: typer.Typer) -> None:
    app.command("erase")(handles_errors(erase))
    app.add_typer(keys_app, name="keys")
    app.add_typer(store_app, name="store")


def erase(
    lead: LeadArg,
    reason: Reason,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Erase a lead's personal data for good: its data key is destroyed (crypto-shredding).

    Every reader then shows its personal fields as [erased]; stages, times, sources and
    scores stay. The reason is kept: name the request (a ticket), not the person. Copies
    made before (backups, exports, downstream services that ignore PersonalDataErased)
    are not reached: see docs/operations.md.
    """
    from leadflow.adapters.cli_projections import forget_erased

    lf = store(db, actor)
    result = lf.erase_personal_data(lead_id_of(lead), reason, at=when(at))
    forget_erased(db, lf)  # the read models forget its notes and reasons now
    report(result, json_out)


@keys_app.command("show")
@handles_errors
def keys_show(db: Db = None, json_out: Json = False) -> None:
    """Where the master key and the keystore are, and the key's id (never the key)."""
    status = key_status(store(db))
    emit(
        status,
        json_out,
        f"master key: {status['master_key']} (id {status['key_id']})\n"
        f"keystore: {status['keystore']}",
    )


@keys_app.command("rotate")
@handles_errors
def keys_rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="Write the new master key here (default: replace the current key file).",
        ),
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Re-wrap every data key under a new master key; no event is touched."""
    from leadflow.adapters.master_key import ENV_KEY, key_file, write_key_file
    from leadflow.adapters.store import resolve_url
    from leadflow.service.data_keys import MasterKey, generate_master_key

    lf = store(db)
    if lf.keys is None:
        raise InvalidInput("db", "this store has no keystore")
    current = lf.keys.master()
    from_env = bool(os.environ.get(ENV_KEY))
    if new_key_file is None and from_env:
        raise InvalidInput(
            "new_key_file",
            f"the master key comes from ${ENV_KEY}; name a file for the new key "
            "(--new-key-file), then put its content in the variable",
        )
    replace = key_file(resolve_url(db or state.db)) if new_key_file is None else None
    target = new_key_file if new_key_file is not None else Path(f"{replace}.new")
    if target.exists():
        raise InvalidInput("new_key_file", f"{target} exists; a key file is never overwritten")
    new = MasterKey(generate_master_key(), str(replace or target))
    write_key_file(target, new)  # first: a crash after the re-wrap must not lose the key
    count = lf.keys.rotate(new)
    if replace is not None:
        os.replace(target, replace)
    emit(
        {"rewrapped": count, "key_id": new.key_id, "master_key": new.source, "old": current.key_id},
        json_out,
        f"{count} data keys re-wrapped under the new master key (id {new.key_id}) in "
        f"{new.source}; the old key (id {current.key_id}) opens only backups made before",
    )


@store_app.command("copy")
@handles_errors
def store_copy(
    src: Annotated[str, typer.Argument(help="The store to copy (URL).")],
    dst: Annotated[str, typer.Argument(help="A new, empty store (URL).")],
    encrypt_personal_data: Annotated[
        bool,
        typer.Option(
            "--encrypt-personal-data",
            help="Seal personal fields under per-lead keys in the copy (required).",
        ),
    ] = False,
    json_out: Json = False,
) -> None:
    """Copy a store (e.g. one written before personal data was sealed) into a new store
    with sealed personal data, keeping every event's id, order, times and actor."""
    from leadflow.adapters.store import open_store, resolve_url
    from leadflow.service.store_copy import copy_store

    if not encrypt_personal_data:
        raise InvalidInput(
            "encrypt_personal_data",
            "a copy always seals personal data: say so with --encrypt-personal-data",
        )
    if resolve_url(src) == resolve_url(dst):
        raise InvalidInput("dst", "copy into another store than the source")
    source = open_store(src)
    target = open_store(dst)
    result = copy_store(source, target)
    emit(
        {
            "events": result.events,
            "erased_leads": result.erased_leads,
            "contact_keys": result.contact_keys,
            **key_status(target),
        },
        json_out,
        f"{result.events} events copied ({result.erased_leads} erased leads kept erased), "
        f"{result.contact_keys} contact keys reserved; master key of the copy: "
        f"{key_status(target)['master_key']}",
    )
