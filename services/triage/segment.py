"""Word segmentation of case text: jieba with a domain dictionary (the catalogue's matters and words, the
organisation file's units, duties and regions, the per-unit lexicon), so that 食品生产许可证, 设施农业用地 or
留抵退税 stay one word instead of falling apart into common characters.

Its own `jieba.Tokenizer` (not jieba's global one), built once at start; `tokens` is pure afterwards.
"""

import logging
from collections.abc import Iterable

import jieba

from services.triage.framing import normalise
from shared.org import Organisation

jieba.setLogLevel(logging.WARNING)
DOMAIN_FREQ = 200_000  # high enough that a domain word wins over splitting it into common words


class Segmenter:
    def __init__(self, words: Iterable[str]):
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        self.domain = sorted({w for w in (normalise(w) for w in words) if len(w) >= 2})
        for word in self.domain:
            self.tokenizer.add_word(word, freq=DOMAIN_FREQ)

    @classmethod
    def build(cls, org: Organisation, unit_words: dict[str, list[str]] | None = None) -> "Segmenter":
        words: list[str] = []
        for dept in org.departments:
            words.append(dept.name)
            words.extend(dept.duties)
        for region in org.regions:
            words.append(region.name)
        for table in (unit_words or {}).values():
            words.extend(table)
        return cls(words)

    def tokens(self, text: str) -> list[str]:
        """The words of normalised text (no punctuation, no spaces), in order."""
        return [t for t in self.tokenizer.lcut(normalise(text), HMM=False) if t.strip()]
