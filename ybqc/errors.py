"""The one error type that ends a run with exit code 2 (usage error or unreadable input)."""
from __future__ import annotations


class InputError(Exception):
    """Bad input or usage. Carries a Chinese and an English message; the CLI prints one, exit 2."""

    def __init__(self, zh: str, en: str | None = None, path: str | None = None):
        self.zh = zh
        self.en = en or zh
        self.path = path
        super().__init__(self.en)

    def __reduce__(self):         # whole across a worker process (ybqc.workers)
        return _rebuild, (type(self), dict(self.__dict__), self.args)

    def message(self, lang: str = "zh") -> str:
        text = self.en if lang == "en" else self.zh
        return f"{self.path}: {text}" if self.path else text


def _rebuild(cls, state: dict, args: tuple) -> InputError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc
