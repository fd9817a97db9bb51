package io.megalith.core.model.seq2seq;

import io.megalith.core.lora.LoraConfig;
import java.util.Arrays;

/**
 * A sequence-to-sequence data set: training batches that are pure functions of (seed, step, index), a fixed
 * held-out set for exact match, and the token contract (0 PAD, 1 BOS, 2 EOS) of {@link EncoderDecoder}.
 */
public interface Seq2SeqTask {
    long PAD = 0;
    long BOS = 1;
    long EOS = 2;

    /**
     * Rows of (source, target): sources [batch, srcLen] padded with PAD; decoder inputs [batch, tgtLen] = BOS +
     * target; targets [batch, tgtLen] = target + EOS, -1 after it.
     */
    record Batch(long[] src, int srcLen, long[] tgtIn, long[] targets, int tgtLen, int batch) {
        /** The target tokens of row i, without EOS. */
        public long[] expected(int i) {
            int n = 0;
            while (n < tgtLen && targets[i * tgtLen + n] != EOS && targets[i * tgtLen + n] >= 0) {
                n++;
            }
            return Arrays.copyOfRange(targets, i * tgtLen, i * tgtLen + n);
        }

        /** The source tokens of row i, without padding. */
        public long[] source(int i) {
            int n = 0;
            while (n < srcLen && src[i * srcLen + n] != PAD) {
                n++;
            }
            return Arrays.copyOfRange(src, i * srcLen, i * srcLen + n);
        }
    }

    int vocabSize();

    int maxSourceLen();

    /** Longest decoder sequence: the longest target + EOS. */
    int maxTargetLen();

    Batch train(long step, int first, int count);

    /** How many held-out examples there are (at most {@code wanted} are used). */
    int heldOutSize(int wanted);

    /** Held-out examples [from, from + count). */
    Batch heldOut(int from, int count);

    /** Tokens as text, for samples. */
    String text(long[] tokens);

    String describe();

    /** A pre-LN encoder-decoder shaped for this task. */
    default Seq2SeqConfig modelConfig(int nEncoderLayer, int nDecoderLayer, int nHead, int nEmbd, double dropout) {
        return new Seq2SeqConfig(vocabSize(), maxSourceLen(), maxTargetLen(), nEncoderLayer, nDecoderLayer, nHead, nEmbd,
                dropout, true, PAD, BOS, EOS, LoraConfig.NONE);
    }

    /** Builds a batch from (source, target) token rows (no BOS/EOS/padding in them). */
    static Batch batch(long[][] sources, long[][] targets, int srcLen, int tgtLen) {
        int b = sources.length;
        long[] src = new long[b * srcLen];
        long[] in = new long[b * tgtLen];
        long[] tg = new long[b * tgtLen];
        Arrays.fill(tg, -1);
        for (int i = 0; i < b; i++) {
            System.arraycopy(sources[i], 0, src, i * srcLen, sources[i].length);
            long[] t = targets[i];
            in[i * tgtLen] = BOS;
            for (int j = 0; j < t.length; j++) {
                tg[i * tgtLen + j] = t[j];
                if (j + 1 < tgtLen) {
                    in[i * tgtLen + j + 1] = t[j];
                }
            }
            tg[i * tgtLen + t.length] = EOS;
        }
        return new Batch(src, srcLen, in, tg, tgtLen, b);
    }
}
