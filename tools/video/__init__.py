"""Videos of a person: a still (made with their model, a generation or a local image) animated by a fal
image-to-video endpoint, or a video-LoRA model's clip from text. facts (what an endpoint's schema accepts), choice
(default endpoint, cost), plan (the body), request (the whole plan before paying), stills, clips (saved clip and
preview), job (the video kind on the job engine), tools (the MCP surface), models (its answer)."""
