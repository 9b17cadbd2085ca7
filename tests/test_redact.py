from genesys_export import redact


def test_presigned_signature_and_passwords_are_masked() -> None:
    url = "https://u:pw@storage.example/exports/a.csv?X-Amz-Signature=abc123&X-Amz-Expires=900"
    out = redact.url(url)
    assert "abc123" not in out and "pw" not in out.split("@")[0].split(":")[-1]
    assert "X-Amz-Expires=900" in out


def test_authorization_headers_are_masked() -> None:
    out = redact.headers({"Authorization": "Bearer tok", "Accept": "application/json"})
    assert out == {"Authorization": "***", "Accept": "application/json"}
