"""Validators: one module per family of checks. Importing this package registers them all.

structure     pandera schemas, unparsed rows, codes mangled into numbers   (YBQC-ST-*)
expectations  Great Expectations suites in ybqc/expectations/              (YBQC-EXP-*)
consistency   arithmetic, refunds, times, ages, duplicates, orphan visits   (YBQC-CON-*)
placeholders  placeholder doctors/departments, doctor codes, roster         (YBQC-PH-*)
diagnosis_conflicts  sex/age conflicts of diagnoses and operations, pick-list suggestions (YBQC-DX-*)
mapping       目录对照: unknown codes, code/name pairs, local vs national meaning, 1:n and n:1 (YBQC-MAP-*)
item_restrictions  sex/age-restricted items and drugs on fee rows, mapping-error hints (YBQC-SEX-*, YBQC-AGE-*)
duplicate_charges  两库 b7 main/secondary items charged together                  (YBQC-RB-001)
frequency_limits   两库 b8 frequency, cycle, course; b6 payment course            (YBQC-RB-002..005)
payment_scope      两库 b4 care setting, b5 facility level, b3 insurance, b2 operations (YBQC-RB-006..009)
dispensing    超量, 重复, 频繁, 批量开方 against the upload and the history (YBQC-DSP-*)
traceability  traceability codes on 3505/3506/fee lines, the monthly spend line (YBQC-TRC-*, YBQC-SPD-*)
"""
from . import structure, expectations, consistency, placeholders, diagnosis_conflicts, mapping, item_restrictions  # noqa: F401,E501
from . import duplicate_charges, frequency_limits, payment_scope  # noqa: F401
from . import dispensing  # noqa: F401  (issue 8)
from . import traceability  # noqa: F401  (issue 9)
