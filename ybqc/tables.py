"""Table kinds: the one place where a kind of input table is defined.

Room: knowledge about the *shape* of the national interface tables (field names, which are
required, which carry codes, dates, amounts or personal identifiers, and what identifies a row).
Readers, normalisation, schemas, checks and reports all ask this module; nothing else defines a
kind. Field names are those of the NHSA interface (医疗保障信息平台 定点医药机构接口规范); see
docs/INPUT.md and ../shared/context/interface-primer.md for sources.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableKind:
    name: str
    title_zh: str
    infno: tuple[str, ...]            # interface transactions that carry this table
    nodes: tuple[str, ...]            # JSON node names in those messages
    required: tuple[str, ...]         # a missing column is one structure finding for the table
    optional: tuple[str, ...] = ()
    key: tuple[str, ...] = ()         # natural key shown with every finding
    signature: tuple[tuple[str, ...], ...] = ()  # any one complete tuple identifies the kind
    excludes: tuple[str, ...] = ()    # columns that rule this kind out
    numeric: tuple[str, ...] = ()
    datetimes: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    masked: tuple[str, ...] = ()      # personal identifiers, masked in every report
    extra: dict = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + tuple(c for c in self.optional if c not in self.required)


_PERSON = ("psn_name", "certno", "psn_no", "coner_name", "coner_tel", "coner_addr", "tel",
           "mob", "addr", "curr_addr", "resd_addr", "prsc_dr_certno", "phar_certno")

FEEDETAIL = TableKind(
    name="feedetail", title_zh="费用明细", infno=("2301", "2204"), nodes=("feedetail",),
    required=("feedetl_sn", "mdtrt_id", "psn_no", "med_type", "fee_ocur_time", "med_list_codg",
              "medins_list_codg", "det_item_fee_sumamt", "cnt", "pric", "bilg_dept_codg",
              "bilg_dept_name", "bilg_dr_codg", "bilg_dr_name"),
    optional=("init_feedetl_sn", "drord_no", "rxno", "chrg_bchno", "dise_codg", "rx_circ_flag",
              "acord_dept_codg", "acord_dept_name", "orders_dr_code", "orders_dr_name",
              "hosp_appr_flag", "tcmdrug_used_way", "etip_flag", "etip_hosp_code",
              "dscg_tkdrug_flag", "matn_fee_flag", "sin_dos_dscr", "used_frqu_dscr", "prd_days",
              "medc_way_dscr", "memo", "med_list_name", "medins_list_name",
              "long_rx_flag",   # issue 8: 长期处方标志, exported by many HIS
              "drug_trac_codg"),    # issue 9: fee lines that carry traceability codes
    key=("feedetl_sn",),
    signature=(("feedetl_sn",), ("det_item_fee_sumamt", "bilg_dr_codg")),
    numeric=("det_item_fee_sumamt", "cnt", "pric", "prd_days"),
    datetimes=("fee_ocur_time",),
    masked=_PERSON,
)

SETLINFO = TableKind(
    name="setlinfo", title_zh="结算清单/就诊信息", infno=("4101", "4101A"), nodes=("setlinfo",),
    required=("mdtrt_id", "psn_no", "gend", "brdy"),
    optional=("setl_id", "psn_name", "certno", "age", "nwb_age", "med_type", "ipt_med_type",
              "adm_time", "dscg_time", "adm_caty", "dscg_caty", "chfpdr_code", "chfpdr_name",
              "medcasno", "fixmedins_code", "fixmedins_name", "ntly", "naty", "patn_cert_type",
              "prfs", "coner_name", "patn_rlts", "coner_addr", "coner_tel", "hi_type", "insuplc",
              "nwb_bir_wt", "nwb_adm_wt", "dscg_way", "act_ipt_days", "setl_begn_date",
              "setl_end_date",
              "insutype"),                 # issue 10: 险种类型 (b3 insurance-type rules)
    key=("mdtrt_id",),
    signature=(("setl_id", "mdtrt_id"), ("mdtrt_id", "gend", "brdy")),
    excludes=("feedetl_sn", "diag_code", "oprn_oprt_code"),
    numeric=("age", "nwb_age", "nwb_bir_wt", "nwb_adm_wt", "act_ipt_days"),
    datetimes=("adm_time", "dscg_time"),
    dates=("brdy", "setl_begn_date", "setl_end_date"),
    masked=_PERSON,
)

DISEINFO = TableKind(
    name="diseinfo", title_zh="诊断信息", infno=("4101", "4101A"), nodes=("diseinfo",),
    required=("mdtrt_id", "diag_type", "diag_code", "diag_name"),
    optional=("diag_srt_no", "maindiag_flag", "adm_cond_type", "psn_no"),
    key=("mdtrt_id", "diag_code"),
    signature=(("diag_code",),),
    excludes=("feedetl_sn", "oprn_oprt_code"),
    numeric=("diag_srt_no",),
    masked=_PERSON,
)

OPRNINFO = TableKind(
    name="oprninfo", title_zh="手术操作信息", infno=("4101", "4101A"), nodes=("oprninfo",),
    required=("mdtrt_id", "oprn_oprt_type", "oprn_oprt_code", "oprn_oprt_name", "oprn_oprt_date",
              "oper_dr_code", "oper_dr_name"),
    optional=("anst_way", "anst_dr_code", "anst_dr_name", "main_oprn_flag", "psn_no",
              "oprn_oprt_begntime", "oprn_oprt_endtime"),
    key=("mdtrt_id", "oprn_oprt_code"),
    signature=(("oprn_oprt_code",),),
    excludes=("feedetl_sn",),
    dates=("oprn_oprt_date",),
    masked=_PERSON,
)

MAPPING = TableKind(
    name="mapping", title_zh="目录对照", infno=("3301",), nodes=("data", "mapping"),
    required=("fixmedins_hilist_id", "fixmedins_hilist_name", "list_type", "med_list_codg"),
    optional=("med_list_name", "begndate", "enddate", "aprvno", "dosform", "exct_cont",
              "item_cont", "prcunt", "spec", "pacspec", "memo"),
    key=("fixmedins_hilist_id",),
    signature=(("fixmedins_hilist_id", "med_list_codg"),),
    excludes=("feedetl_sn", "sel_retn_cnt", "drug_trac_codg", "drugtracinfo", "mdtrt_id"),
    dates=("begndate", "enddate"),
)

SALES = TableKind(
    name="sales", title_zh="商品销售(3505)", infno=("3505",), nodes=("selinfo", "sales"),
    required=("med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "sel_retn_cnt",
              "sel_retn_time"),
    optional=("fixmedins_bchno", "prsc_dr_cert_type", "prsc_dr_certno", "prsc_dr_name",
              "phar_cert_type", "phar_certno", "phar_name", "phar_prac_cert_no",
              "hi_feesetl_type", "setl_id", "mdtrt_sn", "psn_no", "psn_cert_type", "certno",
              "psn_name", "manu_lotnum", "manu_date", "expy_end", "rx_flag", "trdn_flag",
              "finl_trns_pric", "rxno", "rx_circ_flag", "rtal_docno", "stoout_no", "bchno",
              "drug_trac_codg", "drug_prod_barc", "shelf_posi", "sel_retn_opter_name", "memo",
              "mdtrt_setl_type",
              # issue 9: the 2025 code list (readers join it with ","), the package size a
              # split-pack (拆零) check needs when the export carries it
              "drugtracinfo", "min_pac_cnt", "fixmedins_code"),
    key=("fixmedins_bchno", "fixmedins_hilist_id"),
    signature=(("sel_retn_cnt",), ("drug_trac_codg", "fixmedins_hilist_id")),
    excludes=("medins_prod_sel_no",),     # issue 9: only a 3506 return carries it
    numeric=("sel_retn_cnt", "finl_trns_pric", "min_pac_cnt"),
    datetimes=("sel_retn_time",),
    dates=("manu_date", "expy_end"),
    masked=_PERSON,
)

# issue 9: 3506 商品销售退货. Same node (selinfo) as 3505: the reader tells them apart by infno.
# No prescriber, pharmacist, rxno or rtal_docno: a return links to its sale through
# medins_prod_sel_no, fixmedins_bchno, mdtrt_sn, setl_id and the code (openhis-itaii
# Medical3506Param.java; ../shared/context/dispensing-primer.md §3).
RETURNS = TableKind(
    name="returns", title_zh="商品销售退货(3506)", infno=("3506",), nodes=("selinfo", "returns"),
    required=("med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "sel_retn_cnt",
              "sel_retn_time"),
    optional=("fixmedins_bchno", "psn_cert_type", "manu_lotnum", "manu_date", "expy_end",
              "rx_flag", "trdn_flag", "sel_retn_opter_name", "mdtrt_sn", "setl_id", "psn_no",
              "certno", "psn_name", "finl_trns_pric", "memo", "medins_prod_sel_no",
              "drugtracinfo", "drug_trac_codg", "mdtrt_setl_type", "min_pac_cnt", "fixmedins_code"),
    key=("fixmedins_bchno", "fixmedins_hilist_id"),
    signature=(("medins_prod_sel_no", "sel_retn_cnt"),),   # else --kind returns=FILE
    excludes=("prsc_dr_name", "phar_name", "phar_prac_cert_no", "rtal_docno", "feedetl_sn"),
    numeric=("sel_retn_cnt", "finl_trns_pric", "min_pac_cnt"),
    datetimes=("sel_retn_time",),
    dates=("manu_date", "expy_end"),
    masked=_PERSON,
)

STAFF = TableKind(
    name="staff", title_zh="医保医师名册", infno=(), nodes=("staff",),
    required=("dr_code", "dr_name"),
    optional=("dept", "dept_name", "dr_type", "prac_cert_no"),
    key=("dr_code",),
    signature=(("dr_code", "dr_name"),),
    excludes=("feedetl_sn", "mdtrt_id"),
)

KINDS: dict[str, TableKind] = {k.name: k for k in
                               (FEEDETAIL, SETLINFO, DISEINFO, OPRNINFO, MAPPING, SALES, STAFF,
                                RETURNS)}

#: JSON node name -> kind name (3301 sends its rows under "data"); the first kind naming a node
#: wins (selinfo is 3505 sales unless the message's infno says 3506: see kind_of_node)
NODE_KIND: dict[str, str] = {}
for _k in KINDS.values():
    for _node in _k.nodes:
        NODE_KIND.setdefault(_node, _k.name)


def kind_of_node(node: str, infno=None) -> str | None:
    """The kind of a JSON node, told apart by the message's infno where nodes are shared."""
    for k in KINDS.values():
        if infno is not None and str(infno) in k.infno and node in k.nodes:
            return k.name
    return NODE_KIND.get(node)
#: columns masked in any table, whatever its kind
MASKED_FIELDS: frozenset[str] = frozenset(c for k in KINDS.values() for c in k.masked)


def get(name: str) -> TableKind:
    return KINDS[name]
