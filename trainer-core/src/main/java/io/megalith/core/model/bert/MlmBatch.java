package io.megalith.core.model.bert;

/**
 * A masked-LM batch, row-major [batch, seqLen]: the corrupted inputs, segment ids (null: all 0), targets (the
 * original id at selected positions, -1 elsewhere) and optional next-sentence labels [batch] (0 = is next).
 */
public record MlmBatch(long[] inputs, long[] segments, long[] targets, long[] nspLabels, int batch, int seqLen) {}
