"""What the API answers: image results, per-task errors and the items of ``getResponse``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from airflow_provider_wan.api.wire import ResponseModel

TaskState = Literal["processing", "success", "error"]


class TaskError(ResponseModel):
    """One entry of a response's ``errors`` list (extra keys such as ``min``/``max`` are kept)."""

    code: str = "unknown"
    message: str = ""
    parameter: str | list[str] | None = None
    task_type: str | None = Field(default=None, alias="taskType")
    task_uuid: str | None = Field(default=None, alias="taskUUID")
    documentation: str | None = None
    status: str | None = None

    def describe(self) -> str:
        """``code: message (parameter)``, for logs and exception text."""
        names = self.parameter if isinstance(self.parameter, list) else [self.parameter]
        shown = ", ".join(str(name) for name in names if name)
        about = f" (parameter {shown})" if shown else ""
        return f"{self.code}: {self.message}{about}"


class ImageResult(ResponseModel):
    """One generated image. Inline data (data URI, base64) is left out of the repr."""

    task_type: str = Field(default="imageInference", alias="taskType")
    task_uuid: str = Field(alias="taskUUID")
    image_uuid: str = Field(alias="imageUUID")
    image_url: str | None = Field(default=None, alias="imageURL")
    image_data_uri: str | None = Field(default=None, alias="imageDataURI", repr=False)
    image_base64_data: str | None = Field(default=None, alias="imageBase64Data", repr=False)
    seed: int | None = None
    cost: float | None = None
    nsfw_content: bool | None = Field(default=None, alias="NSFWContent")
    status: str | None = None

    @property
    def has_inline_data(self) -> bool:
        """Whether the image travels inside the response (``dataURI`` or ``base64Data``)."""
        return self.image_data_uri is not None or self.image_base64_data is not None

    def summary(self) -> dict[str, Any]:
        """A small JSON-native description, without inline image data."""
        return {
            "task_uuid": self.task_uuid,
            "image_uuid": self.image_uuid,
            "image_url": self.image_url,
            "seed": self.seed,
            "cost": self.cost,
            "nsfw": self.nsfw_content,
        }


class Acknowledgement(ResponseModel):
    """The answer to an ``async`` submission, or an ``imageUpload``: a task UUID and little else."""

    task_type: str | None = Field(default=None, alias="taskType")
    task_uuid: str | None = Field(default=None, alias="taskUUID")
    image_uuid: str | None = Field(default=None, alias="imageUUID")
    image_url: str | None = Field(default=None, alias="imageURL")
