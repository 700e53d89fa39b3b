"""Validators: one module per family of checks. Importing this package registers them all.

structure     pandera schemas, unparsed rows, codes mangled into numbers   (YBQC-ST-*)
expectations  Great Expectations suites in ybqc/expectations/              (YBQC-EXP-*)
consistency   arithmetic, refunds, times, ages, duplicates, orphan visits   (YBQC-CON-*)
placeholders  placeholder doctors/departments, doctor codes, roster         (YBQC-PH-*)
"""
from . import structure, expectations, consistency, placeholders  # noqa: F401
