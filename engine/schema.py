"""Arrow schemas of the tables a run writes (see the README's "Result tables")."""
import pyarrow as pa

QUERIES = pa.schema(
    [
        ("run_id", pa.string()),
        ("method", pa.string()),
        ("fingerprint_id", pa.string()),
        ("model_id", pa.string()),
        ("query_index", pa.int32()),
        ("logits", pa.list_(pa.float32())),
    ]
)

SCORES = pa.schema(
    [
        ("run_id", pa.string()),
        ("method", pa.string()),
        ("model_id", pa.string()),
        ("score", pa.float64()),
        ("access", pa.string()),
        ("p_value", pa.float64()),  # methods with a hypothesis test (watermarks): its p-value, else null
        ("effect", pa.float64()),  # and its effect size (e.g. hit rate above chance, mean posterior gap)
    ]
)

FINGERPRINTS = pa.schema(
    [
        ("fingerprint_id", pa.string()),
        ("method", pa.string()),  # the registered method
        ("label", pa.string()),  # the `method` column of the score and query shards
        ("params", pa.string()),  # its parameters as sorted JSON
        ("source_id", pa.string()),
        ("owner_models", pa.list_(pa.string())),  # the owner-side models it had trained for itself
        ("generation_seconds", pa.float64()),  # null until it is generated
        ("sha256", pa.string()),  # of its stored tensors (null until generated)
    ]
)

MODELS = pa.schema(
    [
        ("model_id", pa.string()),
        ("parent_id", pa.string()),
        ("role", pa.string()),
        ("attack", pa.string()),
        ("attack_params", pa.string()),
        ("arch", pa.string()),
        ("dataset", pa.string()),
        ("seed", pa.int64()),
        ("test_acc", pa.float64()),
        ("agreement", pa.float64()),
        ("num_classes", pa.int64()),
        ("train_seconds", pa.float64()),
        ("source_id", pa.string()),
        ("created_at", pa.string()),
        ("lineage", pa.string()),
        ("pack_id", pa.string()),  # the pack the model trained in (null: alone); see engine/packs.py
        ("pack_size", pa.int64()),  # how many models trained together with it, itself included
    ]
)
