"""Pictures through the app: a thumbnail is made once and kept privately, and forget erases it with the rest."""

from __future__ import annotations

from pipeline.access import Role
from pipeline.artifacts import thumbnail_of
from pipeline.contract import THUMBNAILS_CONTAINER
from pipeline.storage import PIPELINE_CONTAINERS
from tests.desk.client import DeskClient
from tests.desk.desk_data import HOSTILE_QUOTE, DeskData, served


def blobs_of(data: DeskData, image_id: str) -> dict[str, list[str]]:
    storage = data.runtime.storage
    return {container: storage.list_names(container, f"{image_id}/") for container in PIPELINE_CONTAINERS}


def test_a_thumbnail_is_made_once_from_the_working_copy_and_kept(desk_data):
    image_id = desk_data.image_id("astronaut.png")
    job_id = str(desk_data.rows("SELECT job_id FROM images WHERE image_id = ?", image_id)[0][0])
    kept = thumbnail_of(image_id, job_id)
    desk_data.runtime.storage.delete(kept)  # an earlier test may have asked for it already
    with served(desk_data.as_user("amina", Role.VIEWER)) as base:
        client = DeskClient(base)
        first = client.get(f"/desk/media/thumbnails/{image_id}")
        assert first.status == 200 and first.headers["Content-Type"] == "image/jpeg"
        assert first.headers["Cache-Control"] == "private, max-age=300"
        made = desk_data.runtime.storage.info(kept)
        assert made is not None and made.size == len(first.body)
        again = client.get(f"/desk/media/thumbnails/{image_id}")
        assert again.body == first.body
        assert desk_data.runtime.storage.info(kept).etag == made.etag  # read back, not made again
        assert blobs_of(desk_data, image_id)[THUMBNAILS_CONTAINER] == [kept.name]
        photo = client.get(f"/desk/media/photos/{image_id}")
        assert photo.status == 200 and len(photo.body) > len(first.body)
        assert client.get(f"/desk/media/thumbnails/{desk_data.image_id('not_an_image.jpg')}").status == 404


def test_forget_from_the_desk_erases_the_thumbnail_with_the_rest(desk_data):
    image_id = desk_data.image_id(HOSTILE_QUOTE)
    with served(desk_data.as_user("data protection officer", Role.ADMIN)) as base:
        client = DeskClient(base)
        assert client.get(f"/desk/media/thumbnails/{image_id}").status == 200
        assert blobs_of(desk_data, image_id)[THUMBNAILS_CONTAINER]
        client.sign_in_page(f"/images/{image_id}")
        erased = client.post("/desk/admin/forget", {"image_id": image_id})
        assert erased.status == 200 and erased.json()["images"] == 1
        assert all(names == [] for names in blobs_of(desk_data, image_id).values())
        assert not desk_data.rows("SELECT 1 FROM images WHERE image_id = ?", image_id)
        assert client.get(f"/desk/media/thumbnails/{image_id}").status == 404
        assert client.get(f"/images/{image_id}").status == 404
    assert desk_data.rows("SELECT actor FROM v_audit WHERE action = 'forget' AND image_id = ?", image_id) == [
        ("data protection officer",)
    ]
