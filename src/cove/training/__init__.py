"""Training: ``Trainer`` and ``TrainingArguments`` with transformers' names, collators, schedules, callbacks.

``import cove.training`` imports torch; ``import cove`` does not import this package.
"""

from cove.training.accelerator import Accelerator
from cove.training.args import TrainingArguments
from cove.training.callbacks import (
    CallbackHandler,
    DefaultFlowCallback,
    EarlyStoppingCallback,
    JsonlLoggerCallback,
    ProgressCallback,
    TensorBoardCallback,
    TrainerCallback,
    TrainerControl,
    TrainerState,
)
from cove.training.collators import (
    DataCollatorForImageClassification,
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    DefaultDataCollator,
    default_data_collator,
)
from cove.training.outputs import EvalPrediction, PredictionOutput, TrainOutput
from cove.training.rng import set_seed
from cove.training.schedules import create_optimizer, decay_parameter_names, get_scheduler
from cove.training.seq2seq import Seq2SeqTrainer, Seq2SeqTrainingArguments
from cove.training.trainer import Trainer

__all__ = [
    "Accelerator",
    "CallbackHandler",
    "DataCollatorForImageClassification",
    "DataCollatorForLanguageModeling",
    "DataCollatorForSeq2Seq",
    "DataCollatorForTokenClassification",
    "DataCollatorWithPadding",
    "DefaultDataCollator",
    "DefaultFlowCallback",
    "EarlyStoppingCallback",
    "EvalPrediction",
    "JsonlLoggerCallback",
    "PredictionOutput",
    "Seq2SeqTrainer",
    "Seq2SeqTrainingArguments",
    "ProgressCallback",
    "TensorBoardCallback",
    "TrainOutput",
    "Trainer",
    "TrainerCallback",
    "TrainerControl",
    "TrainerState",
    "TrainingArguments",
    "create_optimizer",
    "decay_parameter_names",
    "default_data_collator",
    "get_scheduler",
    "set_seed",
]
