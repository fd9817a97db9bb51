package io.megalith.core.model.bert;

import io.megalith.core.tensor.CounterRng;
import java.util.Arrays;
import java.util.stream.LongStream;

/**
 * BERT's masked-LM corruption: each maskable token is selected with probability {@code selectProb} (0.15);
 * a selected token becomes [MASK] with probability 0.8, a random ordinary token with 0.1 and stays as it is
 * with 0.1, and is a target either way. Special tokens ([CLS], [SEP], [PAD], [MASK], ...) are never
 * selected. Random draws are counter-based: a pure function of (key, position), as everywhere in Megalith.
 */
public final class MlmMasking {
    private final long maskId;
    private final boolean[] special;
    private final long[] ordinary;
    private final double selectProb;
    private final double maskProb;
    private final double randomProb;

    /** BERT's 15% / 80-10-10 over a vocabulary of {@code vocabSize} whose special ids are {@code specialIds}. */
    public MlmMasking(int vocabSize, long maskId, long... specialIds) {
        this(vocabSize, maskId, specialIds, 0.15, 0.8, 0.1);
    }

    public MlmMasking(int vocabSize, long maskId, long[] specialIds, double selectProb, double maskProb, double randomProb) {
        if (maskProb + randomProb > 1) {
            throw new IllegalArgumentException("mask + random probabilities exceed 1");
        }
        this.maskId = maskId;
        this.special = new boolean[vocabSize];
        special[(int) maskId] = true;
        for (long s : specialIds) {
            special[(int) s] = true;
        }
        this.ordinary = LongStream.range(0, vocabSize).filter(i -> !special[(int) i]).toArray();
        this.selectProb = selectProb;
        this.maskProb = maskProb;
        this.randomProb = randomProb;
    }

    /** Corrupts {@code ids} (any layout): returns {inputs, targets}, targets -1 where not selected. */
    public long[][] apply(long[] ids, long key) {
        long[] inputs = Arrays.copyOf(ids, ids.length);
        long[] targets = new long[ids.length];
        Arrays.fill(targets, -1);
        for (int i = 0; i < ids.length; i++) {
            if (special[(int) ids[i]] || CounterRng.uniform(key, 3L * i) >= selectProb) {
                continue;
            }
            targets[i] = ids[i];
            float u = CounterRng.uniform(key, 3L * i + 1);
            if (u < maskProb) {
                inputs[i] = maskId;
            } else if (u < maskProb + randomProb) {
                inputs[i] = ordinary[(int) CounterRng.below(key, 3L * i + 2, ordinary.length)];
            }
        }
        return new long[][] {inputs, targets};
    }

    /** An MLM batch of {@code ids} [batch, seqLen] (segments and NSP labels may be null). */
    public MlmBatch batch(long[] ids, long[] segments, long[] nspLabels, int batch, int seqLen, long key) {
        long[][] r = apply(ids, key);
        return new MlmBatch(r[0], segments, r[1], nspLabels, batch, seqLen);
    }
}
