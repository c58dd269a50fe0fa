r"""How a person reads a name, so that a producer's event cannot pass for one of hookd's own (pure).

hookd's own events have types under `hookd.` and the source `hookd`; a producer's may not, and may not
look as if it did either: in a log line, an alert hook's payload or `hookd history`, a reader takes
`HOOKD.delivery.failed`, `hookd\u034f.delivery.failed` (an invisible mark after the d) or `\u04bbookd.x`
(a Cyrillic shha) for hookd's own. `reads_as` turns text into what such a reader sees, in lower case:

- NFKD: compatibility forms become their plain letters (fullwidth `\uff48`, mathematical `\U0001d421`,
  the one-dot leader `\u2024` as `.`), and accented letters split into the letter and its marks;
- every character that renders as nothing or as blank is dropped: format characters, combining and
  enclosing marks (accents, the combining grapheme joiner, variation selectors), controls, spaces and
  separators of any width, code points unassigned in the Unicode version Python knows (a newer one
  may have made them any of these), and the letters and symbols drawn blank (`_DRAWN_BLANK`);
- the characters in `_LOOK_ALIKES` become the ASCII letter or dot they are drawn like;
- everything else is case folded.

Only `h`, `o`, `k`, `d` and `.` have look-alikes here: they are all the reserved names are made of,
so a general confusables skeleton would only add ways to refuse names that do not read as hookd's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from itertools import islice

# Categories drawn as nothing or as blank: format (Cf), nonspacing and enclosing marks (Mn, Me),
# controls (Cc), space, line and paragraph separators (Zs, Zl, Zp), and unassigned (Cn).
_BLANK_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc", "Zs", "Zl", "Zp", "Cn"})
# Letters and symbols of other categories that fonts draw blank: the Hangul fillers (choseong,
# jungseong, compatibility and halfwidth; Unicode makes them default-ignorable) and the braille blank.
_DRAWN_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# Each character drawn like h, o, k, d or "." (upper or lower case: case is ignored), from Unicode's
# confusables data (UTS #39) for these letters and their capitals, after NFKD (which already takes the
# fullwidth and mathematical forms, the Kelvin sign and the Roman numerals to ASCII). Added to it:
# letters drawn as a small capital of one of them (Cyrillic en and ka, Greek kappa, the small capital
# letters H, D and K), which the data maps to another prototype (small capital H, kra), and the
# lower-case Cherokee forms of the capitals it lists (case folding takes them to those capitals).
# Deliberately small and explicit: a letter not listed here is read as itself.
_LOOK_ALIKES: dict[str, str] = {
    # h and H
    "\u04bb": "h",  # CYRILLIC SMALL LETTER SHHA
    "\u04ba": "h",  # CYRILLIC CAPITAL LETTER SHHA
    "\u0570": "h",  # ARMENIAN SMALL LETTER HO
    "\u13c2": "h",  # CHEROKEE LETTER NI
    "\uab92": "h",  # CHEROKEE SMALL LETTER NI
    "\u0397": "h",  # GREEK CAPITAL LETTER ETA (its lower case, eta, reads as n: matched before case folding)
    "\u2c8e": "h",  # COPTIC CAPITAL LETTER HATE
    "\u2c8f": "h",  # COPTIC SMALL LETTER HATE
    "\u041d": "h",  # CYRILLIC CAPITAL LETTER EN
    "\u043d": "h",  # CYRILLIC SMALL LETTER EN (a small capital H)
    "\u029c": "h",  # LATIN LETTER SMALL CAPITAL H
    "\u13bb": "h",  # CHEROKEE LETTER MI
    "\uab8b": "h",  # CHEROKEE SMALL LETTER MI
    "\u157c": "h",  # CANADIAN SYLLABICS NUNAVUT H
    "\ua4e7": "h",  # LISU LETTER XA
    "\U000102cf": "h",  # CARIAN LETTER E2
    # o and O
    "0": "o",  # ZERO
    "\u07c0": "o",  # NKO DIGIT ZERO
    "\u0966": "o",  # DEVANAGARI DIGIT ZERO
    "\u09e6": "o",  # BENGALI DIGIT ZERO
    "\u0a66": "o",  # GURMUKHI DIGIT ZERO
    "\u0ae6": "o",  # GUJARATI DIGIT ZERO
    "\u0b66": "o",  # ORIYA DIGIT ZERO
    "\u0be6": "o",  # TAMIL DIGIT ZERO
    "\u0c66": "o",  # TELUGU DIGIT ZERO
    "\u0ce6": "o",  # KANNADA DIGIT ZERO
    "\u0d66": "o",  # MALAYALAM DIGIT ZERO
    "\u0e50": "o",  # THAI DIGIT ZERO
    "\u0ed0": "o",  # LAO DIGIT ZERO
    "\u1040": "o",  # MYANMAR DIGIT ZERO
    "\u3007": "o",  # IDEOGRAPHIC NUMBER ZERO
    "\U000114d0": "o",  # TIRHUTA DIGIT ZERO
    "\U000118e0": "o",  # WARANG CITI DIGIT ZERO
    "\u0665": "o",  # ARABIC-INDIC DIGIT FIVE
    "\u06f5": "o",  # EXTENDED ARABIC-INDIC DIGIT FIVE
    "\u0c02": "o",  # TELUGU SIGN ANUSVARA
    "\u0c82": "o",  # KANNADA SIGN ANUSVARA
    "\u0d02": "o",  # MALAYALAM SIGN ANUSVARA
    "\u0d82": "o",  # SINHALA SIGN ANUSVARAYA
    "\u1d0f": "o",  # LATIN LETTER SMALL CAPITAL O
    "\u1d11": "o",  # LATIN SMALL LETTER SIDEWAYS O
    "\uab3d": "o",  # LATIN SMALL LETTER BLACKLETTER O
    "\u03bf": "o",  # GREEK SMALL LETTER OMICRON
    "\u039f": "o",  # GREEK CAPITAL LETTER OMICRON
    "\u03c3": "o",  # GREEK SMALL LETTER SIGMA
    "\u2c9f": "o",  # COPTIC SMALL LETTER O
    "\u2c9e": "o",  # COPTIC CAPITAL LETTER O
    "\u043e": "o",  # CYRILLIC SMALL LETTER O
    "\u041e": "o",  # CYRILLIC CAPITAL LETTER O
    "\u10ff": "o",  # GEORGIAN LETTER LABIAL SIGN
    "\u0585": "o",  # ARMENIAN SMALL LETTER OH
    "\u0555": "o",  # ARMENIAN CAPITAL LETTER OH
    "\u05e1": "o",  # HEBREW LETTER SAMEKH
    "\u0647": "o",  # ARABIC LETTER HEH (its presentation and mathematical forms reach it by NFKD)
    "\u06be": "o",  # ARABIC LETTER HEH DOACHASHMEE
    "\u06c1": "o",  # ARABIC LETTER HEH GOAL
    "\u06d5": "o",  # ARABIC LETTER AE
    "\u0d20": "o",  # MALAYALAM LETTER TTHA
    "\u0b20": "o",  # ORIYA LETTER TTHA
    "\u101d": "o",  # MYANMAR LETTER WA
    "\u2d54": "o",  # TIFINAGH LETTER YAR
    "\u12d0": "o",  # ETHIOPIC SYLLABLE PHARYNGEAL A
    "\ua4f3": "o",  # LISU LETTER O
    "\U000104ea": "o",  # OSAGE SMALL LETTER O
    "\U000104c2": "o",  # OSAGE CAPITAL LETTER O
    "\U000118c8": "o",  # WARANG CITI SMALL LETTER E
    "\U000118d7": "o",  # WARANG CITI SMALL LETTER BU
    "\U000118b5": "o",  # WARANG CITI CAPITAL LETTER AT
    "\U0001042c": "o",  # DESERET SMALL LETTER LONG O
    "\U00010404": "o",  # DESERET CAPITAL LETTER LONG O
    "\U00010292": "o",  # LYCIAN LETTER U
    "\U000102ab": "o",  # CARIAN LETTER O
    "\U00010516": "o",  # ELBASAN LETTER O
    # k and K
    "\u03ba": "k",  # GREEK SMALL LETTER KAPPA (the kappa symbol and the mathematical kappas reach it by NFKD)
    "\u039a": "k",  # GREEK CAPITAL LETTER KAPPA
    "\u043a": "k",  # CYRILLIC SMALL LETTER KA
    "\u041a": "k",  # CYRILLIC CAPITAL LETTER KA
    "\u0138": "k",  # LATIN SMALL LETTER KRA
    "\u1d0b": "k",  # LATIN LETTER SMALL CAPITAL K
    "\u2c94": "k",  # COPTIC CAPITAL LETTER KAPA
    "\u2c95": "k",  # COPTIC SMALL LETTER KAPA
    "\u13e6": "k",  # CHEROKEE LETTER TSO
    "\uabb6": "k",  # CHEROKEE SMALL LETTER TSO
    "\u16d5": "k",  # RUNIC LETTER OPEN-P
    "\ua4d7": "k",  # LISU LETTER KA
    "\U00010518": "k",  # ELBASAN LETTER QE
    # d and D
    "\u0501": "d",  # CYRILLIC SMALL LETTER KOMI DE
    "\u13e7": "d",  # CHEROKEE LETTER TSU
    "\uabb7": "d",  # CHEROKEE SMALL LETTER TSU
    "\u146f": "d",  # CANADIAN SYLLABICS KO
    "\ua4d2": "d",  # LISU LETTER PHA
    "\u13a0": "d",  # CHEROKEE LETTER A
    "\uab70": "d",  # CHEROKEE SMALL LETTER A
    "\u1d05": "d",  # LATIN LETTER SMALL CAPITAL D
    "\u15de": "d",  # CANADIAN SYLLABICS CARRIER THE
    "\u15ea": "d",  # CANADIAN SYLLABICS CARRIER PE
    "\ua4d3": "d",  # LISU LETTER DA
    # . (FULL STOP)
    "\U0001d16d": ".",  # MUSICAL SYMBOL COMBINING AUGMENTATION DOT
    "\u0701": ".",  # SYRIAC SUPRALINEAR FULL STOP
    "\u0702": ".",  # SYRIAC SUBLINEAR FULL STOP
    "\ua60e": ".",  # VAI FULL STOP
    "\U00010a50": ".",  # KHAROSHTHI PUNCTUATION DOT
    "\u0660": ".",  # ARABIC-INDIC DIGIT ZERO
    "\u06f0": ".",  # EXTENDED ARABIC-INDIC DIGIT ZERO
    "\ua4f8": ".",  # LISU LETTER TONE MYA TI
    # Letters with a stroke, hook or tail that no decomposition splits (UTS #39 reads them as the letter
    # and an overlay), and dots of other scripts: the attacker's second review found them let through.
    "\u0127": "h",  # LATIN SMALL LETTER H WITH STROKE
    "\u0126": "h",  # LATIN CAPITAL LETTER H WITH STROKE
    "\u0266": "h",  # LATIN SMALL LETTER H WITH HOOK
    "\u2c68": "h",  # LATIN SMALL LETTER H WITH DESCENDER
    "\u00f8": "o",  # LATIN SMALL LETTER O WITH STROKE
    "\u00d8": "o",  # LATIN CAPITAL LETTER O WITH STROKE
    "\u0275": "o",  # LATIN SMALL LETTER BARRED O
    "\u0199": "k",  # LATIN SMALL LETTER K WITH HOOK
    "\ua741": "k",  # LATIN SMALL LETTER K WITH STROKE
    "\ua743": "k",  # LATIN SMALL LETTER K WITH DIAGONAL STROKE
    "\u2c6a": "k",  # LATIN SMALL LETTER K WITH DESCENDER
    "\u0111": "d",  # LATIN SMALL LETTER D WITH STROKE
    "\u0110": "d",  # LATIN CAPITAL LETTER D WITH STROKE
    "\u0257": "d",  # LATIN SMALL LETTER D WITH HOOK
    "\u0256": "d",  # LATIN SMALL LETTER D WITH TAIL
    "\u0221": "d",  # LATIN SMALL LETTER D WITH CURL
    "\u00b7": ".",  # MIDDLE DOT
    "\u2027": ".",  # HYPHENATION POINT
    "\u06d4": ".",  # ARABIC FULL STOP
    "\u3002": ".",  # IDEOGRAPHIC FULL STOP
    "\uff61": ".",  # HALFWIDTH IDEOGRAPHIC FULL STOP
    "\u02d9": ".",  # DOT ABOVE (spacing)
    "\u2e31": ".",  # WORD SEPARATOR MIDDLE DOT
    "\u0387": ".",  # GREEK ANO TELEIA
    "\u16eb": ".",  # RUNIC SINGLE PUNCTUATION
    "\u2219": ".",  # BULLET OPERATOR
    "\u22c5": ".",  # DOT OPERATOR
}
# ASCII text needs no normalising: only its blanks (space and controls) go, and 0 reads as o.
_ASCII_READING = {**{i: None for i in range(0x21)}, 0x7F: None, ord("0"): "o"}
_ASCII_BLANK = "".join(chr(i) for i in range(0x21)) + "\x7f"


def reads_as(text: str) -> str:
    r"""`text` as a person reading a log or an alert takes it, in lower case (see the module docstring):
    `reads_as("Hoo\u034fkd .x") == "hookd.x"`, `reads_as("\u04bb\u043e\u043ek\u0501") == "hookd"`."""
    return "".join(_read(text))


def reads_as_starting_with(text: str, prefix: str) -> bool:
    """Whether `text` reads as starting with `prefix` (lower-case ASCII), reading no further than it must."""
    if text.isascii():  # nearly every type: the cheap test first, nothing copied unless it starts with h
        if text.lstrip(_ASCII_BLANK)[:1].translate(_ASCII_READING).lower() != prefix[:1]:
            return False
        return text.translate(_ASCII_READING).lower().startswith(prefix)
    return "".join(islice(_read(text), len(prefix))) == prefix


def reads_as_exactly(text: str, name: str) -> bool:
    """Whether `text` reads as `name` (lower-case ASCII), reading no further than one character past it."""
    if text.isascii():
        return text.translate(_ASCII_READING).lower() == name
    return "".join(islice(_read(text), len(name) + 1)) == name


def _read(text: str) -> Iterator[str]:
    # Looked up before decomposing too: a spacing mark such as U+02D9 (a dot) decomposes into a space and
    # a combining mark, both dropped as blank, where a reader sees the dot.
    text = "".join(_LOOK_ALIKES.get(char, char) for char in text) if not text.isascii() else text
    for char in unicodedata.normalize("NFKD", text):
        looks = _LOOK_ALIKES.get(char)
        if looks is not None:
            yield looks
            continue
        # Case folding can yield several characters, or a letter and a mark (capital I with dot above).
        for folded in unicodedata.normalize("NFKD", char.casefold()):
            if folded in _DRAWN_BLANK or unicodedata.category(folded) in _BLANK_CATEGORIES:
                continue
            yield _LOOK_ALIKES.get(folded, folded)
