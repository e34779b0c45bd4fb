"""The crawl's seen-set (crawler.dupefilter.DigestSet): exact, whatever part of it a digest is in."""
import random

from crawler.dupefilter import DigestSet, KeyDupeFilter


def test_a_digest_set_answers_as_a_set_across_many_merges():
    rng = random.Random(7)
    digests = [rng.randrange(-2**63, 2**63) for _ in range(5000)]
    compact, plain = DigestSet(recent=97), set()
    for d in digests[:4000]:
        assert (d in compact) == (d in plain)
        compact.add(d)
        plain.add(d)
    assert len(compact) == len(plain) == 4000 and compact.frozen.size > 3800
    assert all(d in compact for d in digests[:4000]) and not any(d in compact for d in digests[4000:])
    assert all(d in compact for d in digests[:50])   # asked again: from the hot set now
    assert list(compact.frozen) == sorted(compact.frozen.tolist())


def test_the_dupefilter_claims_each_key_once_past_its_recent_set():
    df = KeyDupeFilter()
    df.digests = DigestSet(recent=10)
    keys = [f"https://a.example/p/{n}" for n in range(100)]
    assert [df.claim(k) for k in keys] == [True] * 100
    assert [df.claim(k) for k in keys] == [False] * 100 and all(df.seen(k) for k in keys)
