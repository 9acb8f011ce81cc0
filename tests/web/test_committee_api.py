"""Title review committees: bulk checks from a file, downloads, the JSON API, and bad input of
every kind answered with a 4xx in the one error shape, never a 500."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from certify.certificates.revocation import change_status
from certify.signing.token import token_url
from tests.web.conftest import Site

SQLISH = [
    "' OR '1'='1",
    "1; DROP TABLE certificate;--",
    '" UNION SELECT * FROM account --',
    "%' --",
]


def upload(site: Site, client: object, name: str, data: bytes) -> object:
    return client.post(  # type: ignore[attr-defined]
        "/committee/checks",
        data={"csrf_token": site.csrf(client), "file": (io.BytesIO(data), name)},  # type: ignore[arg-type]
        content_type="multipart/form-data",
    )


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode(encoding)


def test_a_bulk_check_from_csv_with_holder_confirmation(site: Site) -> None:
    client = site.signed_in("committee")
    a, b, c = site.certificates[:3]
    change_status(site.database.engine, c.serial, "revoke", "材料不实")
    other = site.id_numbers[b.serial]
    rows = [
        ["证书编号", "二维码内容", "身份证号"],
        [a.serial, "", site.id_numbers[a.serial]],  # serial, holder confirmed
        ["", token_url("https://verify.example.cn", b"") + b.token, other],  # token URL
        [c.serial, "", other],  # revoked, and not this holder
        ["3799019999999", "", ""],  # unknown serial
        [a.serial, "", "123"],  # invalid ID number
    ]
    response = upload(site, client, "名单.csv", csv_bytes(rows))
    assert response.status_code == 302
    page = client.get(response.location).data.decode()
    assert "名单.csv" in page
    table = re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]
    cells = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in table]
    assert [row[2] for row in cells] == [
        "真实有效",
        "真实有效",
        "已吊销",
        "无法验证为真",
        "真实有效",
    ]
    assert [row[9] for row in cells] == ["一致", "一致", "不一致", "", ""]
    assert "初级职称认定" in cells[0][10] and "已撤销" in cells[2][10]
    assert "没有该编号的证书" in cells[3][11] and "身份证号" in cells[4][11]
    for id_number in site.id_numbers.values():
        assert id_number not in page
    # The same results as CSV and XLSX.
    check_id = response.location.rsplit("/", 1)[-1]
    as_csv = client.get(f"/committee/checks/{check_id}.csv")
    lines = list(csv.reader(io.StringIO(as_csv.data.decode("utf-8-sig"))))
    assert lines[0][:3] == ["行号", "证书编号", "验证结论"] and [r[2] for r in lines[1:]] == [
        row[2] for row in cells
    ]
    book = load_workbook(io.BytesIO(client.get(f"/committee/checks/{check_id}.xlsx").data))
    sheet = book.active
    assert sheet is not None and sheet.max_row == 6
    # Another committee member cannot read it.
    assert site.signed_in("admin").get(f"/committee/checks/{check_id}").status_code == 404


def test_a_bulk_check_from_xlsx(site: Site) -> None:
    client = site.signed_in("committee")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["serial"])
    for cert in site.certificates:
        sheet.append([cert.serial])
    data = io.BytesIO()
    book.save(data)
    response = upload(site, client, "list.xlsx", data.getvalue())
    page = client.get(response.location).data.decode()
    assert page.count("真实有效") == len(site.certificates)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "mixed.csv",
            "证书编号\n".encode() + "张三\n".encode("gbk") + "李四\n".encode(),
            "line 2 is not",
        ),
        ("notes.txt", b"serial\n1\n", ".csv or .xlsx"),
        ("empty.csv", b"", ""),
        ("wrong.csv", "姓名,电话\n张三,1\n".encode(), "wrong.csv, row 1"),
        ("fake.xlsx", b"PK\x03\x04 not really a workbook", ""),
    ],
)
def test_bad_uploads_get_a_clear_4xx(site: Site, name: str, data: bytes, expected: str) -> None:
    client = site.signed_in("committee")
    response = upload(site, client, name, data)
    assert 400 <= response.status_code < 500, response.data[:300]
    assert expected in response.data.decode()


def test_an_oversize_upload_is_refused(site: Site) -> None:
    site.app.config["MAX_CONTENT_LENGTH"] = 1024
    client = site.signed_in("committee")
    response = upload(site, client, "big.csv", b"serial\n" + b"3726011000001\n" * 200)
    assert response.status_code == 413 and "上传的文件过大" in response.data.decode()


def test_a_wrong_csrf_token_is_refused(site: Site) -> None:
    client = site.signed_in("committee")
    response = client.post(
        "/committee/checks",
        data={"csrf_token": "forged", "file": (io.BytesIO(b"serial\n1\n"), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


def test_the_api_verifies_one_and_many(site: Site) -> None:
    client = site.client()
    first = site.certificates[0]
    one = client.post("/api/v1/verify", json={"token": first.token}, headers=site.bearer())
    assert one.status_code == 200 and one.json["verdict"] == "genuine"
    assert one.json["certificate"]["serial"] == first.serial
    assert {e["kind"] for e in one.json["eligibility"]} == {"title_recognition", "ce_hours"}
    items = [{"token": c.token} for c in site.certificates] + [
        {"serial": first.serial, "id_number": site.id_numbers[first.serial]},
        {"token": "NOT-A-TOKEN"},
    ]
    many = client.post("/api/v1/verify", json={"items": items}, headers=site.bearer("admin"))
    results = many.json["results"]
    assert len(results) == len(items)
    assert [r["verdict"] for r in results[:-1]] == ["genuine"] * (len(items) - 1)
    assert results[-2]["holder_match"] is True and results[-1]["verdict"] == "not_genuine"
    found = client.post(
        "/api/v1/credentials",
        json={"id_number": site.id_numbers[first.serial], "name": first.holder_name},
        headers=site.bearer(),
    )
    assert found.json["credentials"][0]["serial"] == first.serial
    assert site.id_numbers[first.serial] not in found.data.decode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"token": 5}, 400),
        ({"token": "x", "extra": 1}, 400),
        ({"items": []}, 400),
        ({"items": [{"serial": "1"}] * 10_001}, 400),
        ({"items": "all"}, 400),
        ({"items": [5]}, 400),
        ({"token": "A" * 5000}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_api_bodies_get_the_one_error_shape(site: Site, body: object, status: int) -> None:
    response = site.client().post("/api/v1/verify", json=body, headers=site.bearer())
    assert response.status_code == status
    error = response.json["error"]
    assert set(error) == {"status", "code", "message", "message_zh"} and error["status"] == status


def test_non_json_and_unknown_paths_keep_the_shape(site: Site) -> None:
    client = site.client()
    text = client.post("/api/v1/verify", data="token=x", headers=site.bearer())
    assert text.status_code == 415 and text.json["error"]["code"]
    broken = client.post(
        "/api/v1/verify", data="{not json", content_type="application/json", headers=site.bearer()
    )
    assert broken.status_code == 400 and broken.json["error"]["status"] == 400
    assert client.get("/api/v1/nothing").json["error"]["status"] == 404
    assert client.get("/api/v1/verify").json["error"]["status"] == 405
    bad_token = client.post(
        "/api/v1/verify", json={"token": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert bad_token.status_code == 401


def test_sql_looking_strings_in_every_field_are_just_text(site: Site) -> None:
    client = site.client()
    committee = site.signed_in("committee")
    for text in SQLISH:
        for body in (
            {"token": text},
            {"serial": text, "id_number": text},
            {"items": [{"serial": text}]},
        ):
            response = client.post("/api/v1/verify", json=body, headers=site.bearer())
            assert response.status_code == 200
        assert (
            client.post(
                "/api/v1/credentials",
                json={"id_number": text, "name": text},
                headers=site.bearer(),
            ).status_code
            == 400
        )
        assert client.get("/lookup", query_string={"serial": text, "name": text}).status_code == 400
        assert client.get(f"/V/{text}").status_code in (400, 404)
        assert client.get(f"/notices/{text}").status_code == 404
        response = upload(
            site, committee, "q.csv", csv_bytes([["证书编号", "身份证号"], [text, text]])
        )
        assert response.status_code == 302
        lookup = committee.post(
            "/committee/lookup",
            data={"csrf_token": site.csrf(committee), "id_number": text, "name": text},
        )
        assert lookup.status_code == 400
        login = site.client()
        login.get("/login")
        assert (
            login.post(
                "/login", data={"username": text, "password": text, "csrf_token": site.csrf(login)}
            ).status_code
            == 401
        )
    # Nothing was harmed: every certificate still verifies.
    assert (
        client.post(
            "/api/v1/verify",
            json={"items": [{"token": c.token} for c in site.certificates]},
            headers=site.bearer(),
        ).json["results"][0]["verdict"]
        == "genuine"
    )


def test_admin_changes_status_with_a_reason(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("admin")
    cert = site.certificates[0]
    form = {
        "csrf_token": site.csrf(client),
        "action": "suspend",
        "reason": "核查中",
        "sitting": "S1",
    }
    client.post(f"/admin/certificates/{cert.serial}/status", data=form)
    assert (
        site.client()
        .post("/api/v1/verify", json={"token": cert.token}, headers=site.bearer())
        .json["verdict"]
        == "suspended"
    )
    no_reason = {**form, "action": "reinstate", "reason": " "}
    page = client.post(
        f"/admin/certificates/{cert.serial}/status", data=no_reason, follow_redirects=True
    )
    assert "reason is required" in page.data.decode()
    page = client.get("/admin/sittings/S1/certificates").data.decode()
    assert cert.serial in page and 'data-status="suspended"' in page
    for id_number in site.id_numbers.values():
        assert id_number not in page
