"""Every image into the user's storage: names checked before submission, pull or push, manifest.

The operator's storage step, between the Airflow face and :mod:`airflow_provider_wan.storage`:
it knows the planned tasks and the summary of a finished wait, and turns them into stored,
verified objects and a JSON Lines manifest written last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.results import ImageResult
from airflow_provider_wan.api.submission import PlannedTask
from airflow_provider_wan.hooks.storage import open_store, presign_put_masked
from airflow_provider_wan.storage import (
    DestinationTemplate,
    FailureLine,
    ImageLine,
    ImageMetadata,
    ImageName,
    ImagePuller,
    ImageSource,
    InvalidDestinationError,
    ObjectStore,
    PullJob,
    PushedImage,
    SourcePolicy,
    StorageURI,
    check_unique,
    confirm_pushed,
    prompt_hash,
    write_manifest,
)
from airflow_provider_wan.storage.formats import extension_for

UploadMode = Literal["pull", "push"]
UPLOAD_MODES: tuple[UploadMode, ...] = ("pull", "push")
ITEM_KEY, RESULT_INDEX = 4, 5
"""Positions of the item key and the result index in a planned task's identity (dag, run,
task, map index, item key, result index); push mode splits a request into one task per image."""


def item_key_of(item: PlannedTask) -> str:
    """The item key a planned task renders."""
    return str(item.identity[ITEM_KEY])


def result_index_of(item: PlannedTask) -> int:
    """The index of a planned task's first image within its item."""
    return int(item.identity[RESULT_INDEX])


def _metadata(image: Mapping[str, Any], item: PlannedTask) -> ImageMetadata:
    """The provenance stored with an image: task, image, seed, and a hash of its prompt."""
    task = item.task
    return ImageMetadata(
        image["task_uuid"],
        image["image_uuid"],
        image["seed"],
        prompt_hash(task.positive_prompt, task.negative_prompt),
    )


def _name(item: PlannedTask, index: int, **known: Any) -> ImageName:
    ext = extension_for(item.task.effective_output_format)
    return ImageName(item_key_of(item), index, ext, **known)


@dataclass
class Delivered:
    """What the storage step made: manifest lines, and each stored image's URI."""

    lines: list[ImageLine | FailureLine] = field(default_factory=list)
    uris: dict[str, str] = field(default_factory=dict)  # image UUID -> storage URI
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """Where and how a task's images are stored.

    :param destination: the rendered destination template (``gs://bucket/{item_key}-{index}.{ext}``).
    :param upload_mode: ``pull`` (the worker streams each image) or ``push`` (Runware PUTs each
        image to a presigned URL; one image per task; no byte crosses the worker).
    :param gcp_conn_id: the connection for ``gs://`` destinations.
    :param aws_conn_id: the connection for ``s3://`` destinations.
    :param trusted_origins: origins besides Runware's image hosts that images may be downloaded
        from (the emulator's, when the Runware connection points at it).
    :param presign_expiry: how long a presigned upload URL stays valid.
    """

    destination: str
    upload_mode: UploadMode = "pull"
    gcp_conn_id: str = "google_cloud_default"
    aws_conn_id: str = "aws_default"
    trusted_origins: tuple[str, ...] = ()
    presign_expiry: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.upload_mode not in UPLOAD_MODES:
            raise InvalidDestinationError(
                f"upload_mode must be one of {UPLOAD_MODES}, not {self.upload_mode!r}"
            )

    @cached_property
    def template(self) -> DestinationTemplate:
        """The validated template (raises :class:`InvalidDestinationError`)."""
        template = DestinationTemplate(self.destination)
        if self.upload_mode == "push" and template.scheme == "file":
            raise InvalidDestinationError(
                "push mode needs a gs:// or s3:// destination (Runware cannot PUT to a local "
                f"path); {self.destination!r} is file://: use upload_mode='pull'"
            )
        if self.upload_mode == "push" and not template.known_before_submission:
            raise InvalidDestinationError(
                f"push mode needs names known before submission: {self.destination!r} uses "
                f"{sorted(template.fields)}; only item_key, index, task_uuid and ext are allowed"
            )
        return template

    def open_store(self) -> ObjectStore:
        """The store of the destination, from its Airflow connection."""
        return open_store(
            self.template.base_uri, gcp_conn_id=self.gcp_conn_id, aws_conn_id=self.aws_conn_id
        )

    # --- before submission ----------------------------------------------------------------

    def check_names(self, planned: Sequence[PlannedTask], run_id: str) -> None:
        """Refuse a plan in which two images would get one name, before anything is paid.

        :raises NameCollisionError: naming both images.
        """
        names = [
            _name(item, result_index_of(item) + n, task_uuid=item.uuid(0))
            for item in planned
            for n in range(item.task.expected_images)
        ]
        check_unique(self.template, names, run_id=run_id)

    def presign(
        self, store: ObjectStore, item: PlannedTask, task: ImageInference
    ) -> ImageInference:
        """*task* with a fresh presigned PUT URL as ``uploadEndpoint`` (push mode).

        The URL is masked in logs at once, and lives only in the request that carries it.
        """
        uri = self.template.render(_name(item, result_index_of(item), task_uuid=task.task_uuid))
        url = presign_put_masked(store, uri, expires=self.presign_expiry)
        return task.model_copy(update={"upload_endpoint": url.reveal()})

    # --- after completion -----------------------------------------------------------------

    def store_images(
        self,
        store: ObjectStore,
        images: Sequence[Mapping[str, Any]],
        tasks: Mapping[str, PlannedTask],
        inline: Mapping[str, ImageResult],
    ) -> Delivered:
        """Pull or confirm every image of the summary; failures become manifest lines.

        :param images: the summary's images (item key, index, task and image UUIDs, seed...).
        :param tasks: task UUID -> its planned task.
        :param inline: image UUID -> the result carrying its inline data (dataURI/base64).
        """
        if self.upload_mode == "push":
            return self._confirm(store, images, tasks)
        return self._pull(store, images, tasks, inline)

    def _pull(
        self,
        store: ObjectStore,
        images: Sequence[Mapping[str, Any]],
        tasks: Mapping[str, PlannedTask],
        inline: Mapping[str, ImageResult],
    ) -> Delivered:
        policy = SourcePolicy(extra_origins=self.trusted_origins)
        with ImagePuller(store, policy=policy) as puller:
            # A generator: the puller takes jobs as it has room, so memory stays flat.
            report = puller.pull(self._pull_job(image, tasks, inline) for image in images)
        delivered = Delivered(lines=report.manifest_lines())
        for pulled in report.stored:
            delivered.uris[str(pulled.job.metadata.image_uuid)] = str(pulled.stored.uri)
        for failure in report.failed:
            delivered.failures.append(
                _storage_failure(failure.job.item_key, failure.job.metadata, failure.error)
            )
        return delivered

    def _pull_job(
        self,
        image: Mapping[str, Any],
        tasks: Mapping[str, PlannedTask],
        inline: Mapping[str, ImageResult],
    ) -> PullJob:
        item = tasks[image["task_uuid"]]
        result = inline.get(image["image_uuid"])
        source = (
            ImageSource(data_uri=result.image_data_uri, base64_data=result.image_base64_data)
            if result is not None and result.has_inline_data
            else ImageSource(url=image["image_url"])
        )
        name = _name(
            item,
            image["index"],
            task_uuid=image["task_uuid"],
            image_uuid=image["image_uuid"],
            seed=image["seed"],
        )
        return PullJob(
            item_key=image["item_key"],
            source=source,
            destination=self.template.render(name),
            output_format=item.task.effective_output_format,
            metadata=_metadata(image, item),
            cost=image["cost"],
        )

    def _confirm(
        self,
        store: ObjectStore,
        images: Sequence[Mapping[str, Any]],
        tasks: Mapping[str, PlannedTask],
    ) -> Delivered:
        pushed = []
        for image in images:
            item = tasks[image["task_uuid"]]
            uri = self.template.render(
                _name(item, result_index_of(item), task_uuid=image["task_uuid"])
            )
            pushed.append(
                PushedImage(
                    item_key=image["item_key"],
                    uri=uri,
                    output_format=item.task.effective_output_format,
                    metadata=_metadata(image, item),
                    width=item.task.width,
                    height=item.task.height,
                    cost=image["cost"],
                )
            )
        report = confirm_pushed(store, pushed)
        delivered = Delivered(lines=report.manifest_lines())
        for confirmed in report.confirmed:
            delivered.uris[str(confirmed.image.metadata.image_uuid)] = str(confirmed.stored.uri)
        for failure in report.failed:
            delivered.failures.append(
                _storage_failure(failure.image.item_key, failure.image.metadata, failure.error)
            )
        return delivered

    def manifest_uri(self, run_id: str, map_index: int = -1) -> StorageURI:
        """``<base>/_manifests/<run_id>.jsonl``; a mapped task instance adds its map index."""
        name = run_id if map_index < 0 else f"{run_id}.part-{map_index}"
        return self.template.manifest_uri(name)

    def write_manifest(
        self, store: ObjectStore, uri: StorageURI, lines: Sequence[ImageLine | FailureLine]
    ) -> str:
        """Write the manifest atomically, last; returns its URI."""
        write_manifest(store, uri, lines)
        return str(uri)


def _storage_failure(item_key: str, metadata: ImageMetadata, error: Exception) -> dict[str, Any]:
    return {
        "item_key": item_key,
        "task_uuid": metadata.task_uuid,
        "image_uuid": metadata.image_uuid,
        "code": getattr(error, "code", "storageFailed"),
        "message": str(error),
    }


def failure_lines(
    failures: Sequence[Mapping[str, Any]], *, runware_only: bool = False
) -> list[FailureLine]:
    """Manifest lines for the summary's failures.

    :param runware_only: only tasks that failed at Runware (storage failures already have
        their lines from the storage step).
    """
    return [
        FailureLine(
            item_key=f["item_key"],
            task_uuid=f["task_uuid"],
            image_uuid=f.get("image_uuid"),
            code=f["code"],
            message=f["message"],
        )
        for f in failures
        if not (runware_only and f.get("image_uuid"))
    ]
