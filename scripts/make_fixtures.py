"""Write the small synthetic test collection of ``tests/fixtures/`` in every accepted format (deterministic).

The texts are made up here (never copied from ../shared): six topics, six documents each, two of them long
(beyond 512 tokens) so truncation is exercised. Run ``python scripts/make_fixtures.py`` to regenerate.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

TOPICS = [
    ("301", "solar panel efficiency", "How efficient are photovoltaic solar panels in cold climates?",
     "Relevant documents report measured efficiency of solar panels or photovoltaic cells."),
    ("302", "coral reef bleaching", "What causes coral reefs to bleach and can they recover?",
     "Relevant documents discuss ocean temperature, bleaching events or reef recovery."),
    ("303", "sourdough bread fermentation", "How does wild yeast fermentation shape sourdough bread?",
     "Relevant documents describe starters, lactic acid bacteria or dough fermentation."),
    ("304", "glacier retreat measurement", "How do scientists measure the retreat of mountain glaciers?",
     "Relevant documents mention satellite, survey or photographic glacier measurements."),
    ("305", "honey bee colony collapse", "Why do honey bee colonies collapse?",
     "Relevant documents discuss pesticides, mites, disease or hive losses."),
    ("306", "electric bicycle batteries", "How long do electric bicycle batteries last?",
     "Relevant documents report lithium battery range, charging cycles or battery ageing."),
]

WORDS = {
    "301": "solar panel photovoltaic efficiency cells sunlight cold climate output watt inverter roof",
    "302": "coral reef bleaching ocean temperature algae recovery heat marine polyps symbiosis",
    "303": "sourdough bread fermentation yeast starter lactic acid bacteria dough flour crust rise",
    "304": "glacier retreat ice measurement satellite survey mountain melt terminus photographs",
    "305": "honey bee colony collapse hive pesticides mites varroa pollination queen workers",
    "306": "electric bicycle battery lithium range charging cycles motor ageing capacity commuters",
}
FILLER = ("the of and a in report study found that during many several researchers local season results "
          "new data over years which were more than from also this these").split()


def _sentence(rng: random.Random, vocab: list[str], n: int) -> str:
    words = [rng.choice(vocab) if rng.random() < 0.45 else rng.choice(FILLER) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def build() -> tuple[list[dict], list[tuple[str, str, str, str]], list[tuple[str, str, int]]]:
    """Documents ({id, title, text}), topics and graded judgements (2 relevant, 1 partly, 0 not)."""
    rng = random.Random(19)
    docs, qrels = [], []
    for t, (qid, *_rest) in enumerate(TOPICS):
        vocab = WORDS[qid].split()
        for j in range(6):
            doc_id = f"FX{t + 1:02d}-{j + 1:03d}"
            n_sent = 60 if j == 5 else 3 + j
            title = " ".join(vocab[:3]).title() + f" note {j + 1}"
            text = " ".join(_sentence(rng, vocab, rng.randint(8, 14)) for _ in range(n_sent))
            docs.append({"id": doc_id, "title": title, "text": text})
            qrels.append((qid, doc_id, 2 if j < 2 else 1 if j < 4 else 0))
        # one judged document of another topic (not relevant)
        qrels.append((qid, f"FX{(t + 1) % 6 + 1:02d}-001", 0))
    return docs, TOPICS, qrels


def _sgml(doc: dict) -> str:
    return (f"<DOC>\n<DOCNO> {doc['id']} </DOCNO>\n<HEADLINE>\n{doc['title']}\n</HEADLINE>\n"
            f"<TEXT>\n{doc['text']}\n</TEXT>\n</DOC>\n")


def main() -> None:
    """Write every fixture file."""
    docs, topics, qrels = build()
    OUT.mkdir(parents=True, exist_ok=True)
    half = len(docs) // 2
    trec = OUT / "trec"
    trec.mkdir(exist_ok=True)
    (trec / "fx01").write_text("".join(_sgml(d) for d in docs[:half]), encoding="utf-8")
    with gzip.GzipFile(trec / "fx02.gz", "wb", mtime=0) as fh:
        fh.write("".join(_sgml(d) for d in docs[half:]).encode())
    (OUT / "collection.trec").write_text("".join(_sgml(d) for d in docs), encoding="utf-8")
    flat = [{"id": d["id"], "contents": f"{d['title']} {d['text']}"} for d in docs]
    (OUT / "collection.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flat), encoding="utf-8")
    jdir = OUT / "json"
    jdir.mkdir(exist_ok=True)
    (jdir / "part0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flat[:half]), encoding="utf-8")
    (jdir / "part1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flat[half:]), encoding="utf-8")
    beir = [{"_id": d["id"], "title": d["title"], "text": d["text"]} for d in docs]
    (OUT / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in beir), encoding="utf-8")
    (OUT / "collection.tsv").write_text("".join(f"{d['id']}\t{d['title']}\t{d['text']}\n" for d in docs),
                                        encoding="utf-8")
    (OUT / "topics.trec").write_text("".join(
        f"<top>\n\n<num> Number: {q}\n\n<title> {title}\n\n<desc> Description:\n{desc}\n\n<narr> Narrative:\n{narr}\n"
        f"\n</top>\n\n" for q, title, desc, narr in topics), encoding="utf-8")
    (OUT / "topics.tsv").write_text("".join(f"{q}\t{title}\n" for q, title, _, _ in topics), encoding="utf-8")
    (OUT / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": title}) + "\n"
                                               for q, title, _, _ in topics), encoding="utf-8")
    (OUT / "qrels.trec").write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in qrels), encoding="utf-8")
    (OUT / "qrels.beir.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n"
                                                                              for q, d, g in qrels), encoding="utf-8")


if __name__ == "__main__":
    main()
