"""`ybqc dictionary audit`: the groups of a HIS pick-list that invite mis-selection.

Room: the command that shows a HIS vendor or a coding department which entries of a pick-list
share a 简码 (or leading characters) but differ in sex or age restriction — 包茎 / 闭经 (BJ),
肾功能衰竭 / 试管内授精 (SGNSJ), 无痛胃肠镜 / 无痛取卵 (无痛) — i.e. the lines the pick-list should
guard (a confirmation, a different 简码, a sex/age filter). The restrictions are those of
ybqc/code_maps/icd_sex_age_rules.csv, the same knowledge the YBQC-DX checks use.

    ybqc dictionary audit his/zd.csv                       rich report in the terminal
    ybqc dictionary audit his/zd.csv --format json -o audit.json
    ybqc dictionary audit his/zd.csv --format xlsx -o audit.xlsx --prefix 3
"""
from __future__ import annotations

import json
import sys

FORMATS = ("rich", "json", "xlsx")


def add_parser(subparsers) -> None:
    d = subparsers.add_parser("dictionary", help="HIS 诊断/手术下拉字典 / HIS pick-lists")
    dsub = d.add_subparsers(dest="dictionary_command")
    a = dsub.add_parser(
        "audit", help="列出简码或名称前缀相同、但性别/年龄限定不同的条目 / entries that share a 简码 but "
                      "differ in sex or age restriction",
        description="列出 HIS 下拉字典中拼音简码相同（或汉字前缀相同）而性别/年龄限定不同的条目组：医生只输入简码时最容易"
                    "选错的地方。 Groups of a pick-list whose entries share a 简码 (or leading characters) "
                    "but differ in sex or age restriction.")
    a.add_argument("paths", nargs="+", metavar="PATH", help="字典文件（CSV/XLSX，表头如 编码、名称、简码、类别）或文件夹")
    a.add_argument("--format", choices=FORMATS, help="rich|json|xlsx（终端默认 rich，否则 json）")
    a.add_argument("--output", "-o", metavar="FILE", help="写入文件（xlsx 必须）")
    a.add_argument("--prefix", type=int, default=2, metavar="N",
                   help="按名称前 N 个汉字分组（默认 2；0 = 不按前缀分组）")
    a.add_argument("--jm-prefix", type=int, default=0, metavar="N",
                   help="另按简码前 N 个字母分组（默认 0 = 只看完全相同的简码）")
    a.add_argument("--limit", type=int, default=40, help="终端报告每类最多显示的组数（默认 40）")
    a.add_argument("--lang", choices=("zh", "en"), default="zh")
    a.add_argument("--cache-dir", metavar="DIR", help="解析缓存目录（默认 ~/.cache/ybqc）")
    a.set_defaults(func=cmd_audit)
    d.set_defaults(func=lambda args: _no_sub(d))


def _no_sub(parser) -> int:
    parser.print_help()
    return 2


# --- the audit (a library function: the CLI only renders it) -----------------------------------

def _profile_text(profile, lang: str) -> str:
    """Compact wording: 仅女性，10–60 岁（宜 13–55 岁） / women only, 10-60 years (usually 13-55)."""
    if not profile:
        return "no restriction" if lang == "en" else "不限"
    from .validators.diagnosis_conflicts import age_band
    en = lang == "en"
    parts = []
    for r in profile:
        if r.restrict == "sex":
            if r.severity == "error":
                parts.append(("women only" if r.sex == "F" else "men only") if en else
                             ("仅女性" if r.sex == "F" else "仅男性"))
            else:
                parts.append(("usually women" if r.sex == "F" else "usually men") if en else
                             ("通常女性" if r.sex == "F" else "通常男性"))
    for r in profile:
        if r.restrict == "age" and r.severity == "error":
            parts.append(age_band(r.age_min, r.age_max, lang))
    soft = [age_band(r.age_min, r.age_max, lang) for r in profile if r.restrict == "age" and r.severity != "error"]
    if soft:
        parts.append(f"(usually {soft[0]})" if en else f"（宜 {soft[0]}）")
    return (", " if en else "，").join(parts).replace("，（", "（").replace(", (", " (")


def audit(index, prefix: int = 2, jm_prefix: int = 0, lang: str = "zh") -> dict:
    """Groups of `index` (a picklist.PickIndex) whose entries share an input but differ in
    restriction. Returns {"entries", "groups": [...], "summary"}; each group has type
    ('jianma' | 'jianma_prefix' | 'name_prefix'), key, cat and its entries with their restriction."""
    from .picklist import jianma_variants
    from .validators.diagnosis_conflicts import restrictions

    restr = restrictions()
    n = len(index)
    profiles = []
    for code, cat in zip(index.codes, index.cats):
        system = "icd9" if cat == "S" else "icd10"
        profiles.append(tuple(sorted({(r.restrict, r.sex, str(r.age_min), str(r.age_max), r.severity)
                                     for r in restr.profile(code, system)})))
    prof_obj = {}

    def prof(i):
        if i not in prof_obj:
            system = "icd9" if index.cats[i] == "S" else "icd10"
            prof_obj[i] = restr.profile(index.codes[i], system)
        return prof_obj[i]

    spellings: list[tuple[str, ...]] = []
    for i in range(n):
        spellings.append((index.jms[i],) if index.own_jm[i] else jianma_variants(index.names[i]))
    keyed: dict[tuple[str, str, str], set[int]] = {}
    for i in range(n):
        cat = index.cats[i] or ""
        for s in spellings[i]:
            if s:
                keyed.setdefault(("jianma", cat, s), set()).add(i)
                if jm_prefix and len(s) >= jm_prefix:
                    keyed.setdefault(("jianma_prefix", cat, s[:jm_prefix]), set()).add(i)
        name = index.names[i].strip()
        if prefix and len(name) > prefix and all("\u4e00" <= c <= "\u9fff" for c in name[:prefix]):
            keyed.setdefault(("name_prefix", cat, name[:prefix]), set()).add(i)
    groups = []
    for (kind, cat, key), ids in keyed.items():
        if len(ids) < 2:
            continue
        distinct = {profiles[i] for i in ids}
        if len(distinct) < 2:
            continue
        ids = sorted(ids, key=lambda i: (index.codes[i], index.names[i]))
        worst = max((2 if any(p[4] == "error" for p in profiles[i]) else 1 if profiles[i] else 0) for i in ids)
        groups.append({
            "type": kind, "key": key, "cat": cat, "size": len(ids),
            "restricted": sum(1 for i in ids if profiles[i]),
            "severity": {2: "error", 1: "warning"}.get(worst, "info"),
            "entries": [{"code": index.codes[i], "name": index.names[i], "jianma": index.jms[i],
                         "jianma_source": "dictionary" if index.own_jm[i] else "pypinyin",
                         "cat": index.cats[i], "restriction": _profile_text(prof(i), lang),
                         "source": index.sources[i]} for i in ids],
        })
    order = {"jianma": 0, "jianma_prefix": 1, "name_prefix": 2}
    # crisp groups first: errors, then the fewest entries (a pair such as 包茎 / 闭经)
    groups.sort(key=lambda g: (order[g["type"]], g["severity"] != "error", g["size"], g["key"]))
    summary = {t: sum(1 for g in groups if g["type"] == t) for t in order}
    return {"entries": n, "groups": groups, "summary": summary}


# --- rendering ----------------------------------------------------------------------------------

_TITLES = {"jianma": ("简码相同", "same 简码"), "jianma_prefix": ("简码前缀相同", "same 简码 prefix"),
           "name_prefix": ("名称前缀相同", "same leading characters")}


def _render_rich(result: dict, lang: str, limit: int, path: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(record=path is not None)
    zh = lang != "en"
    counts = [(t, n) for t, n in result["summary"].items() if n or t != "jianma_prefix"]
    if zh:
        con.print(f"HIS 下拉字典审计：{result['entries']} 个条目；" +
                  "，".join(f"{_TITLES[t][0]} {n} 组" for t, n in counts))
    else:
        con.print(f"pick-list audit: {result['entries']} entries; " +
                  ", ".join(f"{n} groups with {_TITLES[t][1]}" for t, n in counts))
    for t in ("jianma", "jianma_prefix", "name_prefix"):
        groups = [g for g in result["groups"] if g["type"] == t]
        if not groups:
            continue
        tab = Table(title=f"{_TITLES[t][0 if zh else 1]}（前 {min(limit, len(groups))} / {len(groups)} 组）" if zh
                    else f"{_TITLES[t][1]} (first {min(limit, len(groups))} of {len(groups)})",
                    )
        for h in (("输入", "类别", "编码", "名称", "简码", "限定") if zh else
                  ("input", "cat", "code", "name", "简码", "restriction")):
            tab.add_column(h, overflow="fold")
        for g in groups[:limit]:
            entries = g["entries"]
            if len(entries) > 8:       # keep both sides of a large group in view
                free = [e for e in entries if e["restriction"] in ("不限", "no restriction")]
                bound = [e for e in entries if e not in free]
                entries = free[:4] + bound[:8 - min(4, len(free))]
            for k, e in enumerate(entries):
                last = k == len(entries) - 1
                more = len(g["entries"]) - len(entries)
                tab.add_row(g["key"] if k == 0 else "", e["cat"] if k == 0 else "", e["code"], e["name"],
                            e["jianma"], e["restriction"] + (f"\n…+{more}" if last and more else ""),
                            end_section=last)
        con.print(tab)
    if path:
        con.save_text(path)


def _render_xlsx(result: dict, path: str, lang: str) -> None:
    import pandas as pd

    rows = []
    for n, g in enumerate(result["groups"], 1):
        for e in g["entries"]:
            rows.append({"group": n, "type": _TITLES[g["type"]][0 if lang != "en" else 1], "input": g["key"],
                         "cat": e["cat"], "code": e["code"], "name": e["name"], "jianma": e["jianma"],
                         "jianma_source": e["jianma_source"], "restriction": e["restriction"],
                         "group_severity": g["severity"], "source": e["source"]})
    cols = ["group", "type", "input", "cat", "code", "name", "jianma", "jianma_source", "restriction",
            "group_severity", "source"]
    summary = pd.DataFrame([{"type": k, "groups": v} for k, v in result["summary"].items()] +
                           [{"type": "entries", "groups": result["entries"]}])
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        summary.to_excel(xw, sheet_name="summary", index=False)
        pd.DataFrame(rows, columns=cols).to_excel(xw, sheet_name="groups", index=False)


def cmd_audit(args) -> int:
    from pathlib import Path

    from .config import Config
    from .errors import InputError
    from .picklist import load_dictionaries

    fmt = args.format or ("rich" if sys.stdout.isatty() else "json")
    if fmt == "xlsx" and not args.output:
        raise InputError("xlsx 报告需要 --output 文件名", "the xlsx report needs --output")
    if args.prefix < 0 or args.jm_prefix < 0:
        raise InputError("--prefix / --jm-prefix 不能为负数", "--prefix / --jm-prefix must not be negative")
    cache = Path(args.cache_dir) if args.cache_dir else Config().cache_path()
    index, loaded = load_dictionaries(args.paths, cache)
    if index is None:
        raise InputError("没有找到字典文件（csv/xlsx）", "no pick-list files (csv/xlsx) found")
    result = audit(index, prefix=args.prefix, jm_prefix=args.jm_prefix, lang=args.lang)
    result = {"dictionaries": loaded, **result}
    if fmt == "json":
        data = json.dumps(result, ensure_ascii=False, indent=1).encode("utf-8")
        if args.output:
            Path(args.output).write_bytes(data)
        else:
            sys.stdout.buffer.write(data + b"\n")
            sys.stdout.buffer.flush()
    elif fmt == "xlsx":
        _render_xlsx(result, args.output, args.lang)
    else:
        _render_rich(result, args.lang, args.limit, args.output)
    return 0
