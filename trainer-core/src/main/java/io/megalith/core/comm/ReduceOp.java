package io.megalith.core.comm;

/** How all-reduce and reduce-scatter combine the ranks' values. */
public enum ReduceOp {
    SUM, AVG, MAX
}
