"""Validators: one module per family of checks. Importing this package registers them all.

structure     pandera schemas, unparsed rows, codes mangled into numbers   (YBQC-ST-*)
expectations  Great Expectations suites in ybqc/expectations/              (YBQC-EXP-*)
consistency   arithmetic, refunds, times, ages, duplicates, orphan visits   (YBQC-CON-*)
placeholders  placeholder doctors/departments, doctor codes, roster         (YBQC-PH-*)
diagnosis_conflicts  sex/age conflicts of diagnoses and operations, pick-list suggestions (YBQC-DX-*)
mapping       目录对照: unknown codes, code/name pairs, local vs national meaning, 1:n and n:1 (YBQC-MAP-*)
item_restrictions  sex/age-restricted items and drugs on fee rows, mapping-error hints (YBQC-SEX-*, YBQC-AGE-*)
dispensing    超量, 重复, 频繁, 批量开方 against the upload and the history (YBQC-DSP-*)
traceability  traceability codes on 3505/3506/fee lines, the monthly spend line (YBQC-TRC-*, YBQC-SPD-*)
"""
from . import structure, expectations, consistency, placeholders, diagnosis_conflicts, mapping, item_restrictions, dispensing  # noqa: F401,E501
from . import traceability  # noqa: F401  (issue 9)
