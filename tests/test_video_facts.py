"""Video facts read from fal's real published schemas: start-image field, lengths, shapes, limits; the refusals;
the default endpoint and the cost estimate. Every body the checks build passes the endpoint's own schema."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from server.catalog import snapshot, validate
from server.errors import InvalidInput
from tools.video.choice import (
    ASSUMED_USD_PER_SECOND,
    PREFERRED_IMAGE_TO_VIDEO,
    Candidate,
    Price,
    chosen_image_to_video,
    default_image_to_video,
    estimate_cost,
)
from tools.video.facts import (
    VideoFacts,
    aspect_fields,
    check_still,
    duration_fields,
    resolution_fields,
    video_facts,
)
from tools.video.plan import VideoAsk, still_prompt, still_size_for, video_body

KLING = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
VEO = "fal-ai/veo3.1/fast/image-to-video"
KLING_O1 = "fal-ai/kling-video/o1/image-to-video"
WAN25 = "fal-ai/wan-25-preview/image-to-video"
WAN22_LORA = "fal-ai/wan/v2.2-a14b/image-to-video/lora"
LTX2_LORA = "fal-ai/ltx-2-19b/image-to-video/lora"
SEEDANCE = "fal-ai/bytedance/seedance/v1/pro/image-to-video"


@cache
def _models() -> dict[str, dict[str, Any]]:
    """The catalogue snapshot shipped in the package: what the server itself reads."""
    return {eid: entry for eid, entry in snapshot.read().models.items() if entry.get("input")}


def _facts(endpoint: str) -> VideoFacts:
    return video_facts(endpoint, _models()[endpoint]["input"])


def _assert_valid_body(endpoint: str, body: dict[str, Any]) -> None:
    schema = _models()[endpoint]["input"]
    assert validate.problems(schema, body) == [] and validate.unknown_fields(schema, body) == []


def _in(category: str) -> list[str]:
    return [eid for eid, entry in _models().items() if entry["category"] == category]


def _candidates() -> list[Candidate]:
    return [Candidate(eid, _models()[eid]["status"], _facts(eid)) for eid in _in("image-to-video")]


def test_every_video_schema_reads() -> None:
    image_to_video = [_facts(endpoint) for endpoint in _in("image-to-video")]
    text_to_video = [_facts(endpoint) for endpoint in _in("text-to-video")]
    starts = {facts.start_image_field for facts in image_to_video if facts.takes_start_image}
    assert starts == {"image_url", "start_image_url", "first_image_url", "source_image_url"}
    assert sum(facts.takes_start_image for facts in image_to_video) > 120
    assert sum(facts.duration is not None for facts in image_to_video) > 90
    assert not any(facts.takes_start_image for facts in text_to_video if facts.endpoint.endswith("text-to-video"))


def test_kling_string_durations() -> None:
    facts = _facts(KLING)
    assert (facts.start_image_field, facts.prompt_field) == ("image_url", "prompt")
    assert duration_fields(facts, 10) == {"duration": "10"}
    with pytest.raises(InvalidInput, match=r"offers 5 or 10 s, not 7 s: pass duration_seconds"):
        duration_fields(facts, 7)
    with pytest.raises(InvalidInput, match=r"no aspect-ratio setting .* crop the still"):
        aspect_fields(facts, "9:16")
    with pytest.raises(InvalidInput, match="no resolution setting"):
        resolution_fields(facts, "1080p")
    _assert_valid_body(KLING, {"prompt": "waves", "image_url": "https://x/a.jpg", **duration_fields(facts, 10)})


def test_veo_suffixed_durations_aspects_and_resolutions() -> None:
    facts = _facts(VEO)
    body = {
        "prompt": "waves hello",
        "image_url": "https://x/a.jpg",
        **duration_fields(facts, 4),
        **aspect_fields(facts, "9:16"),
        **resolution_fields(facts, "1080p"),
    }
    assert body["duration"] == "4s" and body["aspect_ratio"] == "9:16"
    _assert_valid_body(VEO, body)
    with pytest.raises(InvalidInput, match=r"offers 4, 6 or 8 s, not 5 s"):
        duration_fields(facts, 5)
    with pytest.raises(InvalidInput, match="offers aspect_ratio auto, 16:9, 9:16, not '1:1'"):
        aspect_fields(facts, "1:1")
    with pytest.raises(InvalidInput, match="offers resolution 720p, 1080p, 4k, not '480p'"):
        resolution_fields(facts, "480p")


def test_frame_counted_lengths_and_size_presets() -> None:
    wan = _facts(WAN22_LORA)
    assert wan.lora_field == "loras" and "transformer" in wan.lora_item_fields
    assert duration_fields(wan, 5) == {"num_frames": 81}  # 80 intervals at 16 fps
    with pytest.raises(InvalidInput, match=r"offers 1–10 s \(17–161 frames at 16 fps\), not 12 s"):
        duration_fields(wan, 12)
    ltx = _facts(LTX2_LORA)
    assert aspect_fields(ltx, "9:16") == {"video_size": "portrait_16_9"}
    assert ltx.unfilled_required() == ["loras"] and ltx.unfilled_required(with_lora=True) == []
    body = {
        "prompt": "SIDAI waves",
        "image_url": "https://x/a.jpg",
        "loras": [{"path": "https://x/l.safetensors", "scale": 1.0}],
        **duration_fields(ltx, 4),
        **aspect_fields(ltx, "9:16"),
    }
    _assert_valid_body(LTX2_LORA, body)


def test_still_limits_stated_by_fal() -> None:
    o1 = _facts(KLING_O1)
    assert o1.start_image_field == "start_image_url"
    check_still(o1, 1024, 1024, 2_000_000)
    with pytest.raises(InvalidInput, match=r"at most 10.0 MB: save it as a JPEG or make it smaller"):
        check_still(o1, 1024, 1024, 11 * 1024 * 1024)
    with pytest.raises(InvalidInput, match=r"needs at least 300×300 px: use a larger still"):
        check_still(o1, 256, 256, 50_000)
    with pytest.raises(InvalidInput, match=r"aspect ratio 0.25 .* outside the endpoint's 0.40–2.50: crop it"):
        check_still(o1, 400, 1600, 50_000)
    wan25 = _facts(WAN25)
    with pytest.raises(InvalidInput, match=r"2048×2048 px and the endpoint takes at most 2000×2000 px: resize it"):
        check_still(wan25, 2048, 2048, 3_000_000)
    check_still(_facts(KLING), 4096, 4096, 9_000_000)  # no stated limit: nothing refused
    kling26 = _facts("fal-ai/kling-video/v2.6/pro/image-to-video")  # stated only in fal's x-fal, not in words
    with pytest.raises(InvalidInput, match=r"at most 10.0 MB"):
        check_still(kling26, 1024, 1024, 11 * 1024 * 1024)


def test_no_duration_field_refuses_a_length() -> None:
    facts = _facts("fal-ai/minimax/hailuo-02/pro/image-to-video")
    assert facts.duration is None and duration_fields(facts, None) == {}
    with pytest.raises(InvalidInput, match="has no length setting"):
        duration_fields(facts, 6)


def test_default_endpoint_and_the_users_choice() -> None:
    candidates = _candidates()
    assert default_image_to_video(candidates).endpoint == PREFERRED_IMAGE_TO_VIDEO[0] == KLING
    cheaper = {KLING: Price(0.07, "second"), SEEDANCE: Price(0.05, "seconds"), VEO: Price(0.4, "video")}
    assert default_image_to_video(candidates, cheaper).endpoint == SEEDANCE
    by_id = {candidate.endpoint: candidate for candidate in candidates}
    assert chosen_image_to_video(by_id[VEO], VEO).endpoint == VEO
    with pytest.raises(InvalidInput, match="also requires audio_url"):
        chosen_image_to_video(by_id["fal-ai/kling-video/ai-avatar/v2/pro"], "fal-ai/kling-video/ai-avatar/v2/pro")
    with pytest.raises(InvalidInput, match="requires loras"):
        chosen_image_to_video(by_id[LTX2_LORA], LTX2_LORA)
    assert chosen_image_to_video(by_id[LTX2_LORA], LTX2_LORA, with_lora=True).endpoint == LTX2_LORA
    with pytest.raises(InvalidInput, match="not an image-to-video endpoint in fal's catalogue"):
        chosen_image_to_video(None, "fal-ai/flux-lora")


def test_cost_estimates() -> None:
    kling = _facts(KLING)
    known = estimate_cost(kling, 10, Price(0.07, "second"))
    assert (known.usd, known.basis, known.usd_per_second) == (0.7, "fal_price", 0.07)
    assumed = estimate_cost(kling, None, None)  # the endpoint's default length: 5 s
    assert assumed.basis == "assumed" and assumed.seconds == 5
    assert assumed.usd == pytest.approx(5 * ASSUMED_USD_PER_SECOND)
    assert "unknown here" in assumed.note and "assumed" in assumed.note
    no_length = estimate_cost(_facts("fal-ai/minimax/hailuo-02/pro/image-to-video"), None, None)
    assert no_length.seconds == 10 and "the schema does not say" in no_length.note
    assert estimate_cost(kling, 10, Price(0.35, "5 seconds")).usd == 0.7
    assert estimate_cost(kling, 5, Price(0.07, "second of video")).usd_per_second == 0.07
    per_clip = estimate_cost(_facts(VEO), 8, Price(1.2, "video"))
    assert (per_clip.usd, per_clip.usd_per_second) == (1.2, None)


def test_bodies_for_a_still() -> None:
    kling = _facts(KLING)
    ask = VideoAsk("waves hello", duration_seconds=10, aspect_ratio="9:16", input_params={"cfg_scale": 0.6})
    assert still_size_for(ask, kling) == "portrait_16_9"
    body = video_body(kling, ask, image_url="https://x/still.jpg", still_size=(576, 1024))
    assert body == {"cfg_scale": 0.6, "prompt": "waves hello", "image_url": "https://x/still.jpg", "duration": "10"}
    _assert_valid_body(KLING, body)
    with pytest.raises(InvalidInput, match=r"the clip takes the still's shape, 1024×768 px, not 9:16. Crop the still"):
        video_body(kling, ask, image_url="https://x/still.jpg", still_size=(1024, 768))
    with pytest.raises(InvalidInput, match="input_params sets duration, which this tool fills"):
        video_body(kling, VideoAsk("waves", input_params={"duration": "5"}), image_url="https://x/s.jpg")
    o1 = _facts(KLING_O1)
    body = video_body(o1, VideoAsk("waves", duration_seconds=3), image_url="https://x/s.jpg")
    assert body["start_image_url"] == "https://x/s.jpg" and body["duration"] == "3"
    _assert_valid_body(KLING_O1, body)
    assert still_prompt("SIDAI", "waves hello.").startswith("photo of SIDAI, waves hello, natural light")
    with pytest.raises(InvalidInput, match="not '21:9'"):
        still_size_for(VideoAsk("waves", aspect_ratio="21:9"), _facts(SEEDANCE))


def test_text_to_video_with_a_lora() -> None:
    wan = _facts("fal-ai/wan-t2v-lora")
    ask = VideoAsk("SIDAI waves", duration_seconds=5, aspect_ratio="9:16", resolution="480p")
    body = video_body(wan, ask, image_url=None, loras=[{"path": "https://x/l.safetensors", "scale": 1.0}])
    assert body["num_frames"] == 81 and body["aspect_ratio"] == "9:16"
    _assert_valid_body("fal-ai/wan-t2v-lora", body)
    with pytest.raises(InvalidInput, match="takes no LoRA"):
        video_body(_facts(KLING), VideoAsk("waves"), image_url="https://x/s.jpg", loras=[{"path": "x"}])
