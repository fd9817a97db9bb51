package io.megalith.comm;

/** How all-reduce and reduce-scatter combine the ranks' values. */
public enum ReduceOp {
    SUM, AVG, MAX
}
