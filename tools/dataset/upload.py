"""A prepared dataset's upload, kept alive: fal keeps uploaded files about 7 days, so a stored URL is checked
before it is shown as uploaded or given to a trainer, and the zip is uploaded again when the file is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.errors import UserError
from server.storage import Store, from_json
from tools.dataset import store as rows


async def live_upload(fal: Any, store: Store, row: dict[str, Any], *, reupload: bool = True) -> tuple[str | None, bool]:
    """(the dataset's live fal URL, whether it was uploaded now). A gone file is re-uploaded from the local zip when
    `reupload`, otherwise the row is marked expired and None returned. A network hiccup keeps the stored URL."""
    url = row.get("fal_url")
    if url and await fal.file_alive(url) is not False:
        return url, False
    if url:
        fal.forget_upload(store, url)
        rows.mark_expired(store, row["id"])
    if not reupload:
        return None, False
    zip_path = Path(row["zip_path"]) if row.get("zip_path") else None
    if zip_path is None or not zip_path.is_file():
        why = "upload is gone from fal storage (fal keeps files about 7 days)" if url else "zip was never uploaded"
        raise UserError(
            f"Dataset {row['id']}'s {why} and its local zip is missing ({zip_path}). Run prepare_dataset on the "
            "photo folder again."
        )
    new_url, now = await fal.upload_file_once(store, zip_path)
    report = from_json(row["report_json"], {})
    report.update({"fal_url": new_url, "status": "uploaded"})
    rows.mark_uploaded(store, row["id"], new_url, report)
    return new_url, now
