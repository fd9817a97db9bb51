package io.megalith.core.model.seq2seq;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.core.model.Targets;
import io.megalith.core.model.transformer.AttentionMask;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.tensorparallel.VocabParallelCrossEntropy;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

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
    private final TpLayout tp;
    private final Communicator tpGroup;

    public EncoderDecoder(Seq2SeqConfig cfg) {
        this(cfg, TpLayout.SINGLE, null);
    }

    /**
     * The model on one rank of a tensor-parallel group {@code tpGroup} (Megatron's layout): the shared embedding
     * and the tied LM head vocab-parallel (vocab-parallel cross-entropy), attention (self and cross) and
     * feed-forward column/row-parallel, positions and norms replicated. Train it through {@link #segments}. With
     * a group of one it is exactly the plain model.
     */
    public EncoderDecoder(Seq2SeqConfig cfg, TpLayout tp, Communicator tpGroup) {
        super("");
        this.cfg = cfg;
        this.tp = tp;
        this.tpGroup = tpGroup;
        boolean partial = tp.parallel();
        this.shared = child(partial ? new Embedding("shared", cfg.vocabSize(), cfg.nEmbd(), 0.02, tp.part(cfg.vocabSize()))
                : new Embedding("shared", cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.encPos = child(new Embedding("encoder.position", cfg.maxSourceLen(), cfg.nEmbd(), 0.02));
        for (int i = 0; i < cfg.nEncoderLayer(); i++) {
            encoder.add(child(new TransformerLayer("encoder.layers." + i, cfg.layerSpec(), false, tp)));
        }
        this.encLn = child(new LayerNorm("encoder.ln_f", cfg.nEmbd(), cfg.bias(), partial));
        this.decPos = child(new Embedding("decoder.position", cfg.maxTargetLen(), cfg.nEmbd(), 0.02));
        for (int i = 0; i < cfg.nDecoderLayer(); i++) {
            decoder.add(child(new TransformerLayer("decoder.layers." + i, cfg.layerSpec(), true, tp)));
        }
        this.decLn = child(new LayerNorm("decoder.ln_f", cfg.nEmbd(), cfg.bias(), partial));
        if (partial) {
            encPos.weight().shard(Parameter.Sharding.PARTIAL); // added as position/tp on every rank
            decPos.weight().shard(Parameter.Sharding.PARTIAL);
        }
    }

    public TpLayout tensorParallel() {
        return tp;
    }

    private void requireSingleRank(String what) {
        if (tp.parallel()) {
            throw new IllegalStateException(what + " runs on one rank; under tensor parallelism train through segments()");
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
        requireSingleRank("encode");
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
        requireSingleRank("decode");
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
     * The teacher-forced loss of a batch as two chains for {@link io.megalith.core.segment.SegmentedPass#runTwoChains}:
     * the encoder (source ids -> encoder output) and the decoder (decoder input ids -> loss), whose every
     * cross-attention reads the encoder output as a second input. Running them computes exactly {@link #loss}.
     */
    public record Chains(List<Segment> encoder, PtNDArray source, Function<PtNDArray, List<Segment>> decoder,
            PtNDArray target) {
        /** Both chains as one list (decoder built without memory): each segment's parameters, for planning. */
        public List<Segment> all() {
            List<Segment> out = new ArrayList<>(encoder);
            out.addAll(decoder.apply(null));
            return out;
        }
    }

    /**
     * The chains of a batch (null: their shape only, for planning buckets). One rank: embedding (with dropout),
     * one segment per layer, the final norm; the decoder likewise, then the tied head and the loss. Under tensor
     * parallelism the embeddings are this rank's partial sums (vocab-parallel shared table + positions/tp), every
     * layer runs as {@link TransformerLayer#halves} with an all-reduce after each, {@code encoder.ln_f} runs on the
     * complete sum with no collective after it (the encoder output is complete and the same on every rank), and
     * the head computes this rank's vocabulary slice of the logits and the vocab-parallel cross-entropy. The
     * gradient of the encoder output each rank gets from its cross-attentions is its partial sum, which is what
     * the encoder's last segment (no collective after it, PARTIAL norm parameters) takes as its upstream.
     */
    public Chains segments(Seq2SeqTask.Batch batch, NDManager m) {
        int b = batch == null ? 0 : batch.batch();
        PtNDArray srcBias = batch == null ? null : sourceBias(m, batch.src(), b, batch.srcLen());
        PtNDArray selfBias = batch == null || batch.tgtLen() == 1 ? null : causalBias(0, batch.tgtLen());
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        Targets targets = batch == null ? null : Targets.of(m, batch.targets());
        if (batch != null && batch.srcLen() > cfg.maxSourceLen()) {
            throw new IllegalArgumentException("source of " + batch.srcLen() + " exceeds max_source_len "
                    + cfg.maxSourceLen());
        }
        if (batch != null && batch.tgtLen() > cfg.maxTargetLen()) {
            throw new IllegalArgumentException("target of " + batch.tgtLen() + " exceeds max_target_len "
                    + cfg.maxTargetLen());
        }
        List<Segment> enc = new ArrayList<>();
        enc.add(embedSegment("encoder", encPos, cfg.maxSourceLen(), share));
        addLayers(enc, "encoder.layers.", encoder, srcBias, null, null, share);
        enc.add(Segment.of("encoder.ln_f", encLn.parameters(), Segment.Boundary.NONE, 0, (x, skip, ctx) -> encLn.forward(x)));
        Function<PtNDArray, List<Segment>> dec = memory -> {
            List<Segment> out = new ArrayList<>();
            out.add(embedSegment("decoder", decPos, cfg.maxTargetLen(), share));
            addLayers(out, "decoder.layers.", decoder, selfBias, memory, srcBias, share);
            List<Parameter> head = new ArrayList<>(decLn.parameters());
            head.add(shared.weight()); // tied
            out.add(Segment.of("head", head, Segment.Boundary.NONE, 0, (x, skip, ctx) -> headLoss(x, targets, ctx)));
            return out;
        };
        return new Chains(enc, batch == null ? null : Ops.longs(m, batch.src(), b, batch.srcLen()), dec,
                batch == null ? null : Ops.longs(m, batch.tgtIn(), b, batch.tgtLen()));
    }

    /** Token + position embeddings with dropout (one rank), or this rank's partial sum of them (tensor parallel). */
    private Segment embedSegment(String side, Embedding pos, int max, PtNDArray share) {
        return Segment.of(side + ".embed", List.of(shared.weight(), pos.weight()), Segment.Boundary.ALL_REDUCE, 0,
                (ids, skip, ctx) -> {
                    PtNDArray p = positions(pos, 0, ids.getShape().get(1), max);
                    if (tp.parallel()) {
                        p = Ops.mul(p, share); // each rank adds 1/tp: the sum over the group adds it once
                    }
                    // dropout is linear for a fixed mask: dropping each rank's partial sum drops their sum
                    return ctx.dropout(Ops.add(shared.forward(ids), p), cfg.dropout(), side + ".drop");
                });
    }

    /** One segment per layer (one rank), or one per tensor-parallel step of each layer. */
    private void addLayers(List<Segment> out, String prefix, List<TransformerLayer> stack, PtNDArray selfBias,
            PtNDArray memory, PtNDArray crossBias, PtNDArray share) {
        for (int i = 0; i < stack.size(); i++) {
            TransformerLayer layer = stack.get(i);
            if (!tp.parallel()) {
                out.add(Segment.of(prefix + i, layer.parameters(),
                        (x, ctx) -> layer.forward(x, selfBias, memory, crossBias, ctx, null, null)));
                continue;
            }
            List<TransformerLayer.Half> halves = layer.halves(selfBias, memory, crossBias, share, null); // pre-LN
            for (int k = 0; k < halves.size(); k++) {
                TransformerLayer.Half h = halves.get(k);
                out.add(Segment.of(prefix + i + "." + k, k == 0 ? layer.parameters() : List.of(),
                        Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> h.forward(x, ctx)));
            }
        }
    }

    /** Final decoder norm, tied head and mean cross-entropy (vocab-parallel under tensor parallelism). */
    private PtNDArray headLoss(PtNDArray x, Targets targets, ForwardContext ctx) {
        PtNDArray logits = Ops.linear(Ops.reshape(decLn.forward(x), -1, cfg.nEmbd()), shared.weight().value(), null);
        if (!tp.parallel()) {
            return Ops.crossEntropy(logits, targets.safe(), targets.mask(), targets.counted());
        }
        float[] loss = new float[1];
        PtNDArray surrogate = VocabParallelCrossEntropy.surrogate(logits, targets.host(), shared.firstRow(),
                targets.counted(), tpGroup, loss);
        ctx.reportLoss(loss[0]);
        return surrogate;
    }

    /** Rows [past, past+t) and columns [0, past+t) of the causal bias. */
    private PtNDArray causalBias(long past, long t) {
        if (causal == null) {
            PtNDArray c = AttentionMask.causal(shared.weight().value().getManager(), cfg.maxTargetLen());
            NDScope.unregister(c);
            causal = c;
        }
        return Ops.slice(Ops.slice(causal, 0, past, past + t), 1, 0, past + t);
    }

    private static PtNDArray positions(Embedding table, long past, long t, int max) {
        PtNDArray w = table.weight().value();
        return past == 0 && t == max ? w : Ops.slice(w, 0, past, past + t);
    }

    public int decoderLayers() {
        return decoder.size();
    }
}
