"""Videos of a person: animate a still (from a registered model, a generation or a local image) with a fal
image-to-video endpoint, or run a video LoRA text-to-video. facts (what an endpoint's schema accepts), choice
(which endpoint, what it costs)."""
