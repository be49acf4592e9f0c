"""Fetch stage against a real HTTP server on 127.0.0.1: conditional GET, retries, limits, secrets, politeness.

Each scripted behaviour of ``httpfixtures.FeedServer`` is one test that says what must come out
(payload, report, failure reason). The Beam tests run ``FetchDocuments`` on the DirectRunner.
"""

from __future__ import annotations

import gzip
import itertools
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.httpfixtures import FeedServer, Reply, http_date
from transforms.fetch import (
    USER_AGENT,
    BodyDecoder,
    CommitFetchState,
    FetchDocuments,
    FetchFn,
    FetchHostsFn,
    FetchPolicy,
    HostGate,
    HostScheduler,
    commit_fetch_state,
    fetch_document,
    fetch_reject,
    host_key,
    interpolate_headers,
    retry_after_seconds,
)
from transforms.model import DocumentRef, ParseError, Source, reject_from_dead_letter

# Tiny waits everywhere: the behaviour under test is which waits happen, not how long they are.
FAST = FetchPolicy(
    connect_timeout_s=2, read_timeout_s=2, deadline_s=10, backoff_base_s=0.01, backoff_max_s=0.05,
    per_host_delay_s=0, max_workers=8,
)
RSS = b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title></channel></rss>"
SECRET = "tok-S3CRET-9f2c"


@pytest.fixture
def server():
    with FeedServer() as srv:
        yield srv


def ref(url: str, source_id: str = "feed", headers: tuple[tuple[str, str], ...] = ()) -> DocumentRef:
    return DocumentRef(Source(id=source_id, url=url, headers=headers), url)


def fetch(url_or_ref, policy: FetchPolicy = FAST, state_dir: str | None = None, **kwargs):
    target = url_or_ref if isinstance(url_or_ref, DocumentRef) else ref(url_or_ref)
    return fetch_document(target, policy, state_dir, **kwargs)


def fetch_and_commit(url: str, state_dir: str, policy: FetchPolicy = FAST):
    outcome = fetch(url, policy, state_dir)
    commit_fetch_state(state_dir, [outcome.report])
    return outcome


# ---------------------------------------------------------------------------------------------
# Conditional GET and the body-hash skip


def test_etag_304_means_nothing_to_parse(server: FeedServer, tmp_path: Path) -> None:
    server.feed("/etag", RSS, etag='"v1"')
    first = fetch_and_commit(server.url("/etag"), str(tmp_path))
    assert first.payload is not None and first.payload.content == RSS
    assert first.report.status == 200 and first.report.new_state.etag == '"v1"'

    second = fetch_and_commit(server.url("/etag"), str(tmp_path))
    assert server.hits_for("/etag")[-1].headers["if-none-match"] == '"v1"'
    assert second.payload is None and second.failure is None
    assert (second.report.status, second.report.not_modified, second.report.bytes) == (304, True, 0)
    assert second.report.new_state.etag == '"v1"' and second.report.new_state.sha256 == first.report.new_state.sha256


def test_last_modified_304(server: FeedServer, tmp_path: Path) -> None:
    stamp = http_date(time.time() - 3600)
    server.feed("/lm", RSS, last_modified=stamp)
    assert fetch_and_commit(server.url("/lm"), str(tmp_path)).payload is not None
    second = fetch_and_commit(server.url("/lm"), str(tmp_path))
    assert server.hits_for("/lm")[-1].headers["if-modified-since"] == stamp
    assert "if-none-match" not in server.hits_for("/lm")[-1].headers
    assert (second.payload, second.report.status, second.report.not_modified) == (None, 304, True)


def test_frozen_etag_with_a_changed_body_is_parsed(server: FeedServer, tmp_path: Path) -> None:
    """A server that always sends the same ETag and ignores If-None-Match: the body hash decides."""
    resource = server.feed("/frozen", RSS, etag='"frozen"', honour_validators=False)
    fetch_and_commit(server.url("/frozen"), str(tmp_path))
    resource.body = RSS.replace(b"<title>t</title>", b"<title>new</title>")
    second = fetch_and_commit(server.url("/frozen"), str(tmp_path))
    assert second.report.status == 200 and second.report.not_modified is False
    assert second.payload is not None and b"new" in second.payload.content


def test_unchanged_body_without_validators_is_skipped_by_hash(server: FeedServer, tmp_path: Path) -> None:
    server.feed("/plain", RSS)
    fetch_and_commit(server.url("/plain"), str(tmp_path))
    second = fetch(server.url("/plain"), state_dir=str(tmp_path))
    assert second.payload is None and second.failure is None
    assert (second.report.status, second.report.not_modified, second.report.bytes) == (200, True, len(RSS))
    assert not {"if-none-match", "if-modified-since"} & set(server.hits_for("/plain")[-1].headers)


def test_without_committed_state_everything_is_fetched_again(server: FeedServer, tmp_path: Path) -> None:
    """The fetch itself writes no state: a run that crashes before committing re-fetches next time."""
    server.feed("/etag", RSS, etag='"v1"')
    fetch(server.url("/etag"), state_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    again = fetch(server.url("/etag"), state_dir=str(tmp_path))
    assert again.payload is not None and again.report.status == 200


def test_local_file_unchanged_is_not_modified(tmp_path: Path) -> None:
    doc = tmp_path / "feed.xml"
    doc.write_bytes(RSS)
    state = str(tmp_path / "state")
    first = fetch_and_commit(str(doc), state)
    assert first.payload is not None and first.payload.content_type is None
    assert (first.report.status, first.report.bytes) == (None, len(RSS))
    second = fetch_and_commit(str(doc), state)
    assert second.payload is None and second.report.not_modified is True
    doc.write_bytes(RSS + b"\n")
    assert fetch(str(doc), state_dir=state).payload is not None


def test_missing_local_file_fails_as_unreadable(tmp_path: Path) -> None:
    outcome = fetch(str(tmp_path / "nope.xml"))
    assert outcome.failure[1] == "unreadable" and outcome.report.error == "unreadable"


# ---------------------------------------------------------------------------------------------
# Failures: retried, honoured, or final


def test_500_then_200_is_retried(server: FeedServer) -> None:
    server.script("/flaky", Reply(500), Reply(200, RSS))
    outcome = fetch(server.url("/flaky"))
    assert outcome.payload is not None
    assert (outcome.report.status, outcome.report.attempts, outcome.report.error) == (200, 2, None)


def test_persistent_5xx_fails_after_bounded_attempts(server: FeedServer) -> None:
    server.script("/down", Reply(502))
    outcome = fetch(server.url("/down"))
    assert outcome.failure[1] == "http_502" and outcome.report.attempts == FAST.max_attempts
    assert len(server.hits_for("/down")) == FAST.max_attempts


def test_429_honours_retry_after_seconds(server: FeedServer) -> None:
    server.script("/busy", Reply(429, headers={"Retry-After": "7"}), Reply(200, RSS))
    waits: list[float] = []
    outcome = fetch(server.url("/busy"), sleep=waits.append)
    assert outcome.payload is not None and outcome.report.attempts == 2
    assert waits == [7.0]


def test_503_retry_after_beyond_the_cap_is_not_retried_early(server: FeedServer) -> None:
    server.script("/later", Reply(503, headers={"Retry-After": "3600"}))
    outcome = fetch(server.url("/later"), sleep=lambda s: pytest.fail("must not wait"))
    assert outcome.failure[1] == "http_503" and outcome.report.attempts == 1
    assert "beyond" in outcome.failure[2]


def test_retry_after_that_would_cross_the_deadline_gives_up(server: FeedServer) -> None:
    server.script("/slowdown", Reply(429, headers={"Retry-After": "5"}))
    policy = replace(FAST, deadline_s=1.0)
    outcome = fetch(server.url("/slowdown"), policy, sleep=lambda s: pytest.fail("must not wait"))
    assert outcome.failure[1] == "http_429" and outcome.report.attempts == 1


def test_retry_after_http_date() -> None:
    now = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None) is None


def test_response_slower_than_the_timeout(server: FeedServer) -> None:
    server.script("/slow", Reply(200, RSS, delay_s=1.5))
    policy = replace(FAST, read_timeout_s=0.2, max_attempts=2)
    started = time.monotonic()
    outcome = fetch(server.url("/slow"), policy)
    assert outcome.failure[1] == "timeout" and outcome.report.attempts == 2
    assert time.monotonic() - started < 1.4  # the server answers after 1.5 s


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = fetch(f"http://127.0.0.1:{port}/feed")
    assert outcome.failure[1] == "connection_error" and outcome.report.attempts == FAST.max_attempts
    assert outcome.report.status is None


@pytest.mark.parametrize("status", [404, 410, 401, 403])
def test_client_errors_are_final(server: FeedServer, status: int) -> None:
    server.script("/gone", Reply(status, b"no"))
    outcome = fetch(server.url("/gone"))
    assert outcome.payload is None
    assert outcome.failure[0].location == server.url("/gone")
    assert outcome.failure[1] == f"http_{status}" == outcome.report.error
    assert outcome.report.attempts == 1 and len(server.hits_for("/gone")) == 1


def test_failure_keeps_old_validators_in_new_state(server: FeedServer, tmp_path: Path) -> None:
    server.feed("/feed", RSS, etag='"v1"')
    fetch_and_commit(server.url("/feed"), str(tmp_path))
    server.script("/feed", Reply(404))
    failed = fetch(server.url("/feed"), state_dir=str(tmp_path))
    state = failed.report.new_state
    assert (state.status, state.error, state.etag) == (404, "http_404", '"v1"')


def test_redirect_is_followed_and_the_payload_keeps_the_source_location(server: FeedServer) -> None:
    server.script("/old", Reply(301, headers={"Location": "/new"}))
    server.feed("/new", RSS)
    outcome = fetch(server.url("/old"))
    assert outcome.payload.location == server.url("/old") and outcome.payload.content == RSS


def test_redirect_loop(server: FeedServer) -> None:
    server.script("/a", Reply(302, headers={"Location": "/b"}))
    server.script("/b", Reply(302, headers={"Location": "/a"}))
    outcome = fetch(server.url("/a"))
    assert outcome.failure[1] == "redirect_loop" and outcome.report.attempts == 1


def test_too_many_redirects(server: FeedServer) -> None:
    for i in range(8):
        server.script(f"/hop{i}", Reply(302, headers={"Location": f"/hop{i + 1}"}))
    assert fetch(server.url("/hop0")).failure[1] == "too_many_redirects"
    assert len(server.all_hits()) == FAST.max_redirects + 1


def test_only_http_redirects_and_schemes(server: FeedServer) -> None:
    server.script("/ftp", Reply(302, headers={"Location": "ftp://127.0.0.1/feed"}))
    assert fetch(server.url("/ftp")).failure[1] == "bad_redirect"
    assert fetch("ftp://127.0.0.1/feed").failure[1] == "unsupported_scheme"


# ---------------------------------------------------------------------------------------------
# Limits, encodings, content type


def test_body_over_the_size_limit_declared(server: FeedServer) -> None:
    server.script("/big", Reply(200, b"x" * 200_000))
    outcome = fetch(server.url("/big"), replace(FAST, max_bytes=64_000))
    assert outcome.failure[1] == "too_large" and outcome.report.bytes == 0


def test_body_over_the_size_limit_streamed(server: FeedServer) -> None:
    server.script("/bigchunked", Reply(200, b"x" * 500_000, chunked=True))
    outcome = fetch(server.url("/bigchunked"), replace(FAST, max_bytes=64_000))
    assert outcome.failure[1] == "too_large"
    assert 64_000 < outcome.report.bytes <= 64_000 + 64 * 1024


def test_gzip_bomb_fails_without_filling_memory(server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    server.script("/bomb", Reply(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "application/xml"}))
    outcome = fetch(server.url("/bomb"), replace(FAST, max_decoded_bytes=1_000_000))
    assert outcome.failure[1] == "decompression_bomb"
    assert outcome.report.bytes <= len(bomb)


def test_gzip_and_deflate_bodies_are_decoded_and_sent_compressed(server: FeedServer) -> None:
    big = RSS.replace(b"<title>t</title>", b"<title>" + b"news " * 5000 + b"</title>")
    server.feed("/gz", big, encoding="gzip")
    server.feed("/zz", big, encoding="deflate")
    for path in ("/gz", "/zz"):
        outcome = fetch(server.url(path))
        assert outcome.payload.content == big
        assert outcome.report.bytes < len(big) / 10
        assert server.hits_for(path)[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wbits", [15, -15])  # zlib-wrapped and raw deflate both occur in the wild
def test_body_decoder_deflate_variants(wbits: int) -> None:
    import zlib

    compressor = zlib.compressobj(wbits=wbits)
    data = compressor.compress(RSS * 50) + compressor.flush()
    decoder = BodyDecoder("deflate", 1_000_000, "x")
    for i in range(0, len(data), 7):
        decoder.feed(data[i:i + 7])
    assert decoder.finish() == RSS * 50


def test_unsupported_and_corrupt_encodings() -> None:
    with pytest.raises(ParseError, match="unsupported_encoding"):
        BodyDecoder("br", 100, "x")
    decoder = BodyDecoder("gzip", 100, "x")
    with pytest.raises(ParseError, match="corrupt_encoding"):
        decoder.feed(b"not gzip at all")


def test_wrong_charset_header_is_kept_verbatim(server: FeedServer) -> None:
    """The server says Latin-1 but sends UTF-8: the fetch keeps both as they are; the parser decides."""
    body = "<?xml version='1.0'?><rss><channel><title>Café Noël</title></channel></rss>".encode()
    server.feed("/charset", body, content_type="application/rss+xml; charset=iso-8859-1")
    outcome = fetch(server.url("/charset"))
    assert outcome.payload.content == body
    assert outcome.payload.content_type == "application/rss+xml; charset=iso-8859-1"


def test_identity_headers(server: FeedServer) -> None:
    server.feed("/ua", RSS)
    fetch(server.url("/ua"))
    headers = server.hits_for("/ua")[0].headers
    assert headers["user-agent"] == USER_AGENT == "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"
    assert "rss+xml" in headers["accept"]


# ---------------------------------------------------------------------------------------------
# Secrets in source headers


def test_env_headers_are_sent_but_never_reported(server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_TEST_TOKEN", SECRET)
    headers = (("Authorization", "Bearer ${WIREWATCH_TEST_TOKEN}"), ("X-Api-Key", "${WIREWATCH_TEST_TOKEN}"))
    server.feed("/wire", RSS)
    server.script("/denied", Reply(401, SECRET.encode()))
    ok = fetch(ref(server.url("/wire"), "wire", headers))
    denied = fetch(ref(server.url("/denied"), "wire", headers))
    sent = server.hits_for("/wire")[0].headers
    assert sent["authorization"] == f"Bearer {SECRET}" and sent["x-api-key"] == SECRET
    assert ok.payload is not None and denied.failure[1] == "http_401"
    for text in (repr(ok.report), repr(denied.report), denied.failure[1], denied.failure[2]):
        assert SECRET not in text
    reject = fetch_reject(denied.failure, "run-1", "2024-10-01T00:00:00Z")
    assert reject["reason"] == "http_401" and reject["stage"] == "fetch" and SECRET not in repr(reject)


def test_missing_secret_names_the_variable_and_sends_nothing(server: FeedServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIREWATCH_ABSENT_TOKEN", raising=False)
    server.feed("/wire", RSS)
    outcome = fetch(ref(server.url("/wire"), "wire", (("X-Api-Key", "${WIREWATCH_ABSENT_TOKEN}"),)))
    assert outcome.failure[1] == "missing_secret" and "WIREWATCH_ABSENT_TOKEN" in outcome.failure[2]
    assert outcome.report.attempts == 0 and server.all_hits() == []


def test_secret_messages_are_scrubbed() -> None:
    with pytest.raises(ParseError) as caught:
        interpolate_headers("wire", [("X-Api-Key", "a\r\nb")])
    assert caught.value.reason == "bad_header" and "a\r\nb" not in str(caught.value)


def test_source_headers_stay_on_the_source_origin(server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_TEST_TOKEN", SECRET)
    server.script("/hop", Reply(302, headers={"Location": server.url("/landing", host="localhost")}))
    server.feed("/landing", RSS)
    outcome = fetch(ref(server.url("/hop"), "wire", (("X-Api-Key", "${WIREWATCH_TEST_TOKEN}"),)))
    assert outcome.payload is not None
    assert server.hits_for("/hop")[0].headers["x-api-key"] == SECRET
    assert "x-api-key" not in server.hits_for("/landing")[0].headers


# ---------------------------------------------------------------------------------------------
# Politeness helpers


def test_host_key() -> None:
    assert host_key("http://Example.org/rss") == "example.org:80"
    assert host_key("https://example.org:8443/a?b") == "example.org:8443"
    assert host_key("/data/feed.xml") == "file:/data/feed.xml"


def test_host_gate_spaces_request_starts() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))

    gate = HostGate(0.5, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        gate.wait_turn()
    assert slept == [0.5, 1.0]


def test_host_scheduler_caps_hosts_and_frees_threads_while_hosts_wait() -> None:
    lock = threading.Lock()
    active: dict[str, int] = {}
    peaks: dict[str, int] = {}
    starts: dict[str, list[float]] = {}

    def fake_fetch(doc: DocumentRef, gate: HostGate | None) -> str:
        host = host_key(doc.location)
        with lock:
            active[host] = active.get(host, 0) + 1
            peaks[host] = max(peaks.get(host, 0), active[host])
            starts.setdefault(host, []).append(time.monotonic())
        time.sleep(0.02)
        with lock:
            active[host] -= 1
        return doc.location

    groups = [(host_key(f"http://h{h}.test/"), [ref(f"http://h{h}.test/{i}") for i in range(6)]) for h in range(3)]
    with ThreadPoolExecutor(4) as pool:
        done = list(HostScheduler(pool, fake_fetch, per_host=2, delay_s=0, max_in_flight=4).run(groups))
        assert sorted(done) == sorted(r.location for _, refs in groups for r in refs)
        assert max(peaks.values()) == 2
        # a host waiting out its delay holds no thread: with 2 threads, both hosts run interleaved
        starts.clear()
        paced = [(host_key(f"http://{h}.test/"), [ref(f"http://{h}.test/{i}") for i in range(3)]) for h in "ab"]
        began = time.monotonic()
        list(HostScheduler(pool, fake_fetch, per_host=2, delay_s=0.25, max_in_flight=2).run(paced))
        elapsed = time.monotonic() - began
    # Starts are stamped inside the fetch, a little after the gate opened, so allow some slack on a
    # loaded machine; the span of each host's three starts cannot shrink below two delays' worth.
    for host in ("a.test:80", "b.test:80"):
        assert min(b - a for a, b in itertools.pairwise(starts[host])) >= 0.2
        assert starts[host][-1] - starts[host][0] >= 0.45
        assert starts[host][0] - began < 0.2
    assert elapsed < 1.0  # about 0.5 s; one host after the other would take 1 s or more


# ---------------------------------------------------------------------------------------------
# The Beam transform on the DirectRunner


def run_fetch(refs: list[DocumentRef], policy: FetchPolicy, state_dir: str | None, check=None, commit: bool = False):
    """Run FetchDocuments over ``refs``; ``check(outputs)`` adds assertions inside the pipeline."""
    with TestPipeline() as p:
        outputs = p | beam.Create(refs) | FetchDocuments(policy, state_dir)
        if check:
            check(outputs)
        if commit:
            done = outputs["payloads"] | "CountPayloads" >> beam.combiners.Count.Globally()
            outputs["reports"] | CommitFetchState(state_dir, after=done)


def test_fetch_documents_on_the_direct_runner(server: FeedServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIREWATCH_ABSENT_TOKEN", raising=False)
    server.feed("/ok", RSS, etag='"1"')
    server.script("/missing", Reply(404))
    refs = [
        ref(server.url("/ok"), "ok"),
        ref(server.url("/missing"), "gone"),
        ref(server.url("/ok"), "secret", (("X-Api-Key", "${WIREWATCH_ABSENT_TOKEN}"),)),
    ]

    def check(out):
        assert_that(out["payloads"] | beam.Map(lambda p: (p.source.id, p.content)), equal_to([("ok", RSS)]),
                    label="Payloads")
        assert_that(
            out["reports"] | beam.Map(lambda r: (r.source_id, r.status, r.not_modified, r.error)),
            equal_to([("ok", 200, False, None), ("gone", 404, False, "http_404"), ("secret", None, False,
                                                                                  "missing_secret")]),
            label="Reports",
        )
        assert_that(out["failures"] | beam.Map(lambda f: (f[0].source.id, f[1])),
                    equal_to([("gone", "http_404"), ("secret", "missing_secret")]), label="Failures")

    run_fetch(refs, FAST, str(tmp_path), check)


def test_second_run_with_committed_state_transfers_no_bodies(server: FeedServer, tmp_path: Path) -> None:
    for i in range(6):
        server.feed(f"/e{i}", RSS + b"<!-- %d -->" % i, etag=f'"e{i}"')
        server.feed(f"/m{i}", RSS + b"<!-- m%d -->" % i, last_modified=http_date(1_700_000_000 + i))
    server.feed("/novalidators", RSS)
    urls = [server.url(f"/{k}{i}") for k in "em" for i in range(6)]
    refs = [ref(u, "many") for u in urls] + [ref(server.url("/novalidators"), "plain")]
    run_fetch(refs, FAST, str(tmp_path), commit=True)
    assert server.body_bytes() > 0 and len(list(tmp_path.glob("*.json"))) == len(refs)
    server.reset_observations()

    def check(out):
        assert_that(out["payloads"], equal_to([]), label="NoPayloads")
        assert_that(out["reports"] | beam.Map(lambda r: (r.source_id, r.status, r.not_modified, r.bytes)),
                    equal_to([("many", 304, True, 0)] * 12 + [("plain", 200, True, len(RSS))]), label="Reports")

    run_fetch(refs, FAST, str(tmp_path), check)
    assert sum(h.body_bytes for h in server.all_hits() if h.path != "/novalidators") == 0


def test_per_host_cap_holds_across_the_run_and_hosts_run_in_parallel(server: FeedServer) -> None:
    for i in range(8):
        server.script(f"/slow{i}", Reply(200, RSS, delay_s=0.15))
    refs = [ref(server.url(f"/slow{i}", host), f"s{i}") for host in ("127.0.0.1", "localhost") for i in range(8)]
    policy = replace(FAST, max_workers=16, hosts_per_batch=1)
    run_fetch(refs, policy, None)
    assert len(server.all_hits()) == 16
    assert set(server.max_active) == {f"127.0.0.1:{server.port}", f"localhost:{server.port}"}
    assert max(server.max_active.values()) == 2
    # the cap holds whether hosts arrive in separate batches (above) or together (below), where they overlap
    server.reset_observations()
    run_fetch(refs, replace(FAST, max_workers=16), None)
    assert max(server.max_active.values()) == 2 and server.max_active_total == 4


def test_per_host_minimum_delay(server: FeedServer) -> None:
    for i in range(4):
        server.feed(f"/d{i}", RSS)
    refs = [ref(server.url(f"/d{i}"), "d") for i in range(4)]
    run_fetch(refs, replace(FAST, per_host_delay_s=0.2), None)
    starts = sorted(h.started for h in server.all_hits())
    assert len(starts) == 4
    # The server stamps a request when its handler thread runs, which a loaded machine can delay for
    # one request and not the next; the span of four paced starts is robust to that skew.
    assert starts[-1] - starts[0] >= 3 * 0.2 * 0.9
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.05


def test_fetch_fn_pickles_like_on_a_real_runner() -> None:
    fn = pickler.loads(pickler.dumps(FetchHostsFn(FAST, "/tmp/state")))
    assert fn.policy == FAST and fn.state_dir == "/tmp/state"


def test_fetch_documents_in_multi_processing_mode(server: FeedServer) -> None:
    """Workers in other processes unpickle the DoFn and reach the server over loopback, as on a real runner."""
    for i in range(6):
        server.feed(f"/mp{i}", RSS + b"<!-- %d -->" % i)
    refs = [ref(server.url(f"/mp{i}", host), f"mp{i}") for host in ("127.0.0.1", "localhost") for i in range(6)]
    options = PipelineOptions(["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"])
    with beam.Pipeline(options=options) as p:
        out = p | beam.Create(refs) | FetchDocuments(FAST, None)
        assert_that(out["reports"] | beam.Map(lambda r: (r.status, r.error)), equal_to([(200, None)] * 12))
    assert len(server.all_hits()) == 12 and max(server.max_active.values()) <= 2


def test_per_document_fetch_fn_feeds_beam_dead_letters(server: FeedServer) -> None:
    server.feed("/ok", RSS)
    server.script("/missing", Reply(404))
    with TestPipeline() as p:
        good, bad = (p | beam.Create([ref(server.url("/ok")), ref(server.url("/missing"))])
                     | beam.ParDo(FetchFn(FAST)).with_exception_handling())
        assert_that(good | beam.Map(lambda payload: payload.content), equal_to([RSS]), label="Good")
        rejects = bad | beam.Map(reject_from_dead_letter, "fetch", "run-1", "2024-10-01T00:00:00Z")
        assert_that(rejects | beam.Map(lambda r: (r["stage"], r["reason"], r["location"])),
                    equal_to([("fetch", "http_404", server.url("/missing"))]), label="Rejects")


def test_a_trickling_server_is_cut_off_at_the_deadline(server: FeedServer) -> None:
    """One byte every 50 ms never trips the read timeout; the total deadline still ends the fetch early."""
    body = RSS + b" " * 400  # 20 s of trickle
    server.script("/slow.xml", Reply(body=body, trickle_s=0.05))
    policy = replace(FAST, deadline_s=1.0, max_attempts=1)
    outcome = fetch(server.url("/slow.xml"), policy)
    assert outcome.failure is not None and outcome.failure[1] == "deadline_exceeded"
    server.settle()
    (hit,) = server.hits_for("/slow.xml")
    assert hit.body_bytes < len(body) // 2  # the client hung up long before the body was through
