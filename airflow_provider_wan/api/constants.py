"""Fixed facts of the Runware API and the Wan2.6 Image model, written once."""

from __future__ import annotations

from typing import Final

DEFAULT_BASE_URL: Final = "https://api.runware.ai/v1"
WAN_IMAGE_MODEL: Final = "alibaba:wan@2.6-image"

TASK_IMAGE_INFERENCE: Final = "imageInference"
TASK_GET_RESPONSE: Final = "getResponse"
TASK_IMAGE_UPLOAD: Final = "imageUpload"
TASK_GET_TASK_DETAILS: Final = "getTaskDetails"

# The size rule of Wan 2.6 is on the image as a whole: an area between 576x1024 and
# 1440x1440 pixels and an aspect ratio between 1:4 and 4:1 (PROTOCOL.md, "Size rule").
MIN_PIXELS: Final = 576 * 1024
MAX_PIXELS: Final = 1440 * 1440
MAX_ASPECT_RATIO: Final = 4

POSITIVE_PROMPT_MAX: Final = 2100
NEGATIVE_PROMPT_MAX: Final = 500
NUMBER_RESULTS_MAX: Final = 20
OUTPUT_QUALITY_MIN: Final = 20
OUTPUT_QUALITY_MAX: Final = 99
TTL_MIN: Final = 60
REFERENCE_IMAGES_MAX: Final = 4

# Error codes with a meaning for the client's control flow.
CODE_CONFLICT_TASK_UUID: Final = "conflictTaskUUID"
