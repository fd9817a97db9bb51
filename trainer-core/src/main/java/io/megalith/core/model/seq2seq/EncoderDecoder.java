package io.megalith.core.model.seq2seq;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.Targets;
import io.megalith.core.model.transformer.AttentionMask;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * An encoder-decoder transformer (the original Transformer / BART layout, pre-LN as T5): one token embedding
 * shared by encoder, decoder and the LM head (tied); learned positions for each side; an encoder of
 * bidirectional layers whose attention ignores source padding; a decoder of layers with causal
 * self-attention and cross-attention over the encoder output (again ignoring source padding); final
 * LayerNorms on both sides.
 *
 * <p>Training is teacher-forced: the decoder reads BOS + target[:-1] and predicts target (ending in EOS).
 * Decoding ({@link Seq2SeqGenerator}) runs the encoder once and the decoder one token at a time with a
 * {@link DecoderCache}: self-attention keys and values grow by one position per step, the cross-attention's
 * are computed from the encoder output once.
 *
 * <p>Names: {@code shared}, {@code encoder.position}, {@code encoder.layers.i.*}, {@code encoder.ln_f},
 * {@code decoder.position}, {@code decoder.layers.i.{ln1,attn,ln_cross,cross.q,cross.kv,cross.proj,ln2,mlp}},
 * {@code decoder.ln_f}.
 *
 * <p>One-rank code: tensor parallelism is applied from outside by a plan ({@code parallelize.EncoderDecoderPlan});
 * its {@code ParallelEncoderDecoder} runs the two segment chains.
 */
public final class EncoderDecoder extends Module {
    private final Seq2SeqConfig cfg;
    private final Embedding shared;
    private final Embedding encPos;
    private final List<TransformerLayer> encoder = new ArrayList<>();
    private final LayerNorm encLn;
    private final Embedding decPos;
    private final List<TransformerLayer> decoder = new ArrayList<>();
    private final LayerNorm decLn;
    private PtNDArray causal;

    public EncoderDecoder(Seq2SeqConfig cfg) {
        super("");
        this.cfg = cfg;
        this.shared = child(new Embedding("shared", cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.encPos = child(new Embedding("encoder.position", cfg.maxSourceLen(), cfg.nEmbd(), 0.02));
        for (int i = 0; i < cfg.nEncoderLayer(); i++) {
            encoder.add(child(new TransformerLayer("encoder.layers." + i, cfg.layerSpec(), i, false)));
        }
        this.encLn = child(new LayerNorm("encoder.ln_f", cfg.nEmbd(), cfg.bias()));
        this.decPos = child(new Embedding("decoder.position", cfg.maxTargetLen(), cfg.nEmbd(), 0.02));
        for (int i = 0; i < cfg.nDecoderLayer(); i++) {
            decoder.add(child(new TransformerLayer("decoder.layers." + i, cfg.layerSpec(), i, true)));
        }
        this.decLn = child(new LayerNorm("decoder.ln_f", cfg.nEmbd(), cfg.bias()));
    }

    /** Whole-graph paths are for the full model; a tensor-parallel part runs its plan's segments. */
    private void requireWhole(String what) {
        if (shared.weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
            throw new IllegalStateException(what + " runs on one rank; under tensor parallelism train through the "
                    + "plan's segments");
        }
    }

    public Seq2SeqConfig config() {
        return cfg;
    }

    /** Source padding bias [B, 1, 1, S] of source ids [B*S], or null without padding. */
    public PtNDArray sourceBias(NDManager m, long[] src, int batch, int s) {
        return AttentionMask.hasPadding(src, cfg.padId()) ? AttentionMask.padding(m, src, batch, s, cfg.padId()) : null;
    }

    /** Encoder output [B, S, C] of source ids [B, S]; {@code srcBias} from {@link #sourceBias}. */
    public PtNDArray encode(PtNDArray src, PtNDArray srcBias, ForwardContext ctx) {
        requireWhole("encode");
        long s = src.getShape().get(1);
        if (s > cfg.maxSourceLen()) {
            throw new IllegalArgumentException("source of " + s + " exceeds max_source_len " + cfg.maxSourceLen());
        }
        PtNDArray x = Ops.add(shared.forward(src), positions(encPos, 0, s, cfg.maxSourceLen()));
        x = ctx.dropout(x, cfg.dropout(), "encoder.drop");
        for (TransformerLayer layer : encoder) {
            x = layer.forward(x, srcBias, null, null, ctx, null, null);
        }
        return encLn.forward(x);
    }

    /**
     * Decoder logits [B, T, V] of decoder inputs [B, T] over the encoder output {@code memory}. With a cache,
     * the inputs are the T positions after the cached ones (the memory is only read until the cache holds the
     * cross-attention keys and values).
     */
    public PtNDArray decode(PtNDArray tgtIn, PtNDArray memory, PtNDArray srcBias, ForwardContext ctx, DecoderCache cache) {
        requireWhole("decode");
        long t = tgtIn.getShape().get(1);
        long past = cache == null ? 0 : cache.length();
        if (past + t > cfg.maxTargetLen()) {
            throw new IllegalArgumentException("target of " + (past + t) + " exceeds max_target_len " + cfg.maxTargetLen());
        }
        PtNDArray x = Ops.add(shared.forward(tgtIn), positions(decPos, past, t, cfg.maxTargetLen()));
        x = ctx.dropout(x, cfg.dropout(), "decoder.drop");
        PtNDArray selfBias = t == 1 ? null : causalBias(past, t);
        for (int i = 0; i < decoder.size(); i++) {
            x = decoder.get(i).forward(x, selfBias, memory, srcBias, ctx, cache == null ? null : cache.self(i),
                    cache == null ? null : cache.cross(i));
        }
        if (cache != null) {
            cache.advance(t);
        }
        return Ops.linear(decLn.forward(x), shared.weight().value(), null);
    }

    /**
     * Teacher-forced mean cross-entropy: sources [B, S] (padded with pad), decoder inputs [B, T] (BOS + target
     * shifted right) and targets [B*T] (-1 = ignored, e.g. after EOS).
     */
    public PtNDArray loss(long[] src, int s, long[] tgtIn, long[] targets, int t, int batch, ForwardContext ctx) {
        NDManager m = ctx.manager();
        PtNDArray bias = sourceBias(m, src, batch, s);
        PtNDArray memory = encode(Ops.longs(m, src, batch, s), bias, ctx);
        PtNDArray logits = decode(Ops.longs(m, tgtIn, batch, t), memory, bias, ctx, null);
        Targets tg = Targets.of(m, targets);
        return Ops.crossEntropy(Ops.reshape(logits, -1, cfg.vocabSize()), tg.safe(), tg.mask(), tg.counted());
    }

    /**
     * Creates the causal bias in {@code manager} ahead of use: needed when the parameters are not all resident between
     * segments (ZeRO-3), else it is made on first use beside the shared embedding.
     */
    public void initConstants(NDManager manager) {
        if (causal == null) {
            PtNDArray c = AttentionMask.causal(manager, cfg.maxTargetLen());
            NDScope.unregister(c);
            causal = c;
        }
    }

    /** Rows [past, past+t) and columns [0, past+t) of the causal bias. */
    public PtNDArray causalBias(long past, long t) {
        initConstants(causal == null ? shared.weight().value().getManager() : null);
        return Ops.slice(Ops.slice(causal, 0, past, past + t), 1, 0, past + t);
    }

    /** Rows [past, past + t) of a position table with {@code max} rows (the whole table needs no slice). */
    public static PtNDArray positions(Embedding table, long past, long t, int max) {
        PtNDArray w = table.weight().value();
        return past == 0 && t == max ? w : Ops.slice(w, 0, past, past + t);
    }

    public int decoderLayers() {
        return decoder.size();
    }

    /** The token embedding shared by encoder, decoder and the tied LM head. */
    public Embedding shared() {
        return shared;
    }

    public Embedding encoderPositions() {
        return encPos;
    }

    public List<TransformerLayer> encoderStack() {
        return encoder;
    }

    public LayerNorm encoderNorm() {
        return encLn;
    }

    public Embedding decoderPositions() {
        return decPos;
    }

    public List<TransformerLayer> decoderStack() {
        return decoder;
    }

    public LayerNorm decoderNorm() {
        return decLn;
    }
}
