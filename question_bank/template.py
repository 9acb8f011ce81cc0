"""导入模板: a starting file for institutions, one worked example per item type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from question_bank.formats import write_items
from schemas.enums import ItemStatus, ItemType, Level
from schemas.items import ItemData

_COMMON: dict[str, Any] = {
    "occupation": "ai",
    "level": Level.JUNIOR,
    "source": "模板示例",
    "status": ItemStatus.DRAFT,
}

TEMPLATE_ITEMS: tuple[ItemData, ...] = (
    ItemData(
        item_id="TPL-001",
        type=ItemType.SINGLE,
        knowledge_area="4",
        **_COMMON,
        stem="在监督学习中，用于评价二分类模型在不同阈值下综合表现的曲线是？",
        options={"A": "学习曲线", "B": "ROC 曲线", "C": "损失曲线", "D": "验证曲线"},
        key="B",
        points=1,
        difficulty=0.3,
        tags=["模型评估"],
    ),
    ItemData(
        item_id="TPL-002",
        type=ItemType.MULTIPLE,
        knowledge_area="3",
        **_COMMON,
        stem="下列方法中，可用于处理数据集中缺失值的有？",
        options={
            "A": "删除含缺失值的样本",
            "B": "用均值或中位数填充",
            "C": "用模型预测填充",
            "D": "将缺失值统一替换为最大值以外的随机数",
        },
        key="ABC",
        points=2,
        difficulty=0.4,
        tags=["数据清洗"],
    ),
    ItemData(
        item_id="TPL-003",
        type=ItemType.TRUE_FALSE,
        knowledge_area="1",
        **_COMMON,
        stem="依据《个人信息保护法》，处理敏感个人信息应当取得个人的单独同意。",
        key="T",
        points=1,
        difficulty=0.2,
        tags=["个人信息保护法"],
    ),
    ItemData(
        item_id="TPL-004",
        type=ItemType.FILL,
        knowledge_area="2",
        **_COMMON,
        stem="Python 中用于获取列表长度的内置函数是 ______，创建整数序列的内置函数是 ______。",
        key="len|len();range|range()",
        points=2,
        difficulty=0.15,
        tags=["Python"],
    ),
    ItemData(
        item_id="TPL-005",
        type=ItemType.MATCHING,
        knowledge_area="3",
        **_COMMON,
        stem="将下列算法与其所属的机器学习类型配对（每个题项选一个选项，选项可重复使用）。",
        premises=["线性回归", "K 均值聚类", "Q 学习", "决策树分类"],
        options={"A": "监督学习", "B": "无监督学习", "C": "强化学习"},
        key="ABCA",
        points=4,
        difficulty=0.3,
        tags=["机器学习"],
    ),
    ItemData(
        item_id="TPL-006",
        type=ItemType.SUBJECTIVE,
        knowledge_area="5",
        **_COMMON,
        stem="某图像分类模型训练集准确率 99%，验证集准确率 72%。请分析原因并给出至少三种改进措施。",
        key="过拟合；可采用数据增强、正则化（L2、Dropout）、早停、降低模型复杂度、增加训练数据等。",
        points=10,
        difficulty=0.5,
        tags=["过拟合"],
        rubric="1. 判断为过拟合并说明依据（4分）；2. 每给出一种合理的改进措施得 2 分，最多 6 分",
    ),
)


def write_template(path: Path) -> int:
    """Write the template in the format the file name asks for; returns the example count."""
    return write_items(path, TEMPLATE_ITEMS)
