"""Dataset family: local photo folder → checked, cropped, captioned, zipped, uploaded training set.

Modules, one job each: scan (walk the folder), decode (draft decoding, EXIF, sRGB), faces (YuNet + estimates),
checks (per-image verdicts), duplicates (pHash + ORB for crops), text (optional OCR watermark check), report (mix
+ advice), crop, caption, package (zip), store (dataset rows), analyse (thread pool over images), prepare (the whole
run without MCP); tools.py is the MCP surface (prepare_dataset, dataset_status, list_datasets).
"""
