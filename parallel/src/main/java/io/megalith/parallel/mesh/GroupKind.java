package io.megalith.parallel.mesh;

/**
 * The kinds of process group a {@link DeviceMesh} defines. The declaration order is part of the wire
 * protocol: a group's id is {@code ordinal() * worldSize + index}, so reordering or inserting constants
 * would change every id; add new kinds at the end only.
 */
public enum GroupKind {
    /** Every rank of the job. */
    WORLD("world"),
    /** Ranks with the same dp and pp coordinates: they split each layer's weights (Megatron TP). */
    TENSOR("tp"),
    /** Ranks with the same tp and pp coordinates: they hold replicas and average gradients. */
    DATA("dp"),
    /** Ranks with the same tp and dp coordinates: consecutive stages of one model replica. */
    PIPELINE("pp"),
    /** Ranks with the same tp, pp and edp coordinates: they split the experts of each MoE layer. */
    EXPERT("ep"),
    /** Ranks with the same tp, pp and ep coordinates: they hold replicas of the same experts. */
    EXPERT_DATA("edp");

    private final String prefix;

    GroupKind(String prefix) {
        this.prefix = prefix;
    }

    /** Short name used in group names and logs, e.g. {@code dp} in {@code dp[0,2,4,6]}. */
    public String prefix() {
        return prefix;
    }
}
