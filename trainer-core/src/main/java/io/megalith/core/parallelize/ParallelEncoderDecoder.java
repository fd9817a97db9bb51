package io.megalith.core.parallelize;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.model.Targets;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.tensorparallel.VocabParallelCrossEntropy;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The encoder-decoder as one rank runs it after {@link EncoderDecoderPlan#apply}: this rank's part of the model and
 * its two segment chains, with the all-reduces of its tensor-parallel group at the segment boundaries. With
 * {@link Placement#SINGLE} the chains compute exactly {@link EncoderDecoder#loss}.
 */
public final class ParallelEncoderDecoder {
    private final EncoderDecoder model;
    private final Placement placement;
    private final TpLayout tp;
    private final Seq2SeqConfig cfg;

    ParallelEncoderDecoder(EncoderDecoder model, Placement placement) {
        this.model = model;
        this.placement = placement;
        this.tp = placement.tp();
        this.cfg = model.config();
    }

    /** This rank's part of the model (the one-rank model under {@link Placement#SINGLE}). */
    public EncoderDecoder model() {
        return model;
    }

    public Placement placement() {
        return placement;
    }

    /**
     * The teacher-forced loss of a batch as two chains for {@link io.megalith.core.segment.SegmentedPass#runTwoChains}:
     * the encoder (source ids -> encoder output) and the decoder (decoder input ids -> loss), whose every
     * cross-attention reads the encoder output as a second input. Running them computes exactly
     * {@link EncoderDecoder#loss}.
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
     * layer runs as {@link TransformerPlan#halves} with an all-reduce after each, {@code encoder.ln_f} runs on the
     * complete sum with no collective after it (the encoder output is complete and the same on every rank), and
     * the head computes this rank's vocabulary slice of the logits and the vocab-parallel cross-entropy. The
     * gradient of the encoder output each rank gets from its cross-attentions is its partial sum, which is what
     * the encoder's last segment (no collective after it, PARTIAL norm parameters) takes as its upstream.
     */
    public Chains segments(Seq2SeqTask.Batch batch, NDManager m) {
        int b = batch == null ? 0 : batch.batch();
        PtNDArray srcBias = batch == null ? null : model.sourceBias(m, batch.src(), b, batch.srcLen());
        PtNDArray selfBias = batch == null || batch.tgtLen() == 1 ? null : model.causalBias(0, batch.tgtLen());
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
        enc.add(embedSegment("encoder", model.encoderPositions(), cfg.maxSourceLen(), share));
        addLayers(enc, "encoder.layers.", model.encoderStack(), srcBias, null, null, share);
        enc.add(Segment.of("encoder.ln_f", model.encoderNorm().parameters(), Segment.Boundary.NONE, 0,
                (x, skip, ctx) -> model.encoderNorm().forward(x)));
        Function<PtNDArray, List<Segment>> dec = memory -> {
            List<Segment> out = new ArrayList<>();
            out.add(embedSegment("decoder", model.decoderPositions(), cfg.maxTargetLen(), share));
            addLayers(out, "decoder.layers.", model.decoderStack(), selfBias, memory, srcBias, share);
            List<Parameter> head = new ArrayList<>(model.decoderNorm().parameters());
            head.add(model.shared().weight()); // tied
            out.add(Segment.of("head", head, Segment.Boundary.NONE, 0, (x, skip, ctx) -> headLoss(x, targets, ctx)));
            return out;
        };
        return new Chains(enc, batch == null ? null : Ops.longs(m, batch.src(), b, batch.srcLen()), dec,
                batch == null ? null : Ops.longs(m, batch.tgtIn(), b, batch.tgtLen()));
    }

    /** Token + position embeddings with dropout (one rank), or this rank's partial sum of them (tensor parallel). */
    private Segment embedSegment(String side, Embedding pos, int max, PtNDArray share) {
        Embedding shared = model.shared();
        return Segment.of(side + ".embed", List.of(shared.weight(), pos.weight()), Segment.Boundary.ALL_REDUCE, 0,
                (ids, skip, ctx) -> {
                    PtNDArray p = EncoderDecoder.positions(pos, 0, ids.getShape().get(1), max);
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
            List<TransformerPlan.Half> halves = TransformerPlan.halves(layer, selfBias, memory, crossBias, share,
                    null); // pre-LN
            for (int k = 0; k < halves.size(); k++) {
                TransformerPlan.Half h = halves.get(k);
                out.add(Segment.of(prefix + i + "." + k, k == 0 ? layer.parameters() : List.of(),
                        Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> h.forward(x, ctx)));
            }
        }
    }

    /** Final decoder norm, tied head and mean cross-entropy (vocab-parallel under tensor parallelism). */
    private PtNDArray headLoss(PtNDArray x, Targets targets, ForwardContext ctx) {
        PtNDArray logits = Ops.linear(Ops.reshape(model.decoderNorm().forward(x), -1, cfg.nEmbd()),
                model.shared().weight().value(), null);
        if (!tp.parallel()) {
            return Ops.crossEntropy(logits, targets.safe(), targets.mask(), targets.counted());
        }
        float[] loss = new float[1];
        PtNDArray surrogate = VocabParallelCrossEntropy.surrogate(logits, targets.host(), model.shared().firstRow(),
                targets.counted(), placement.tpGroup(), loss);
        ctx.reportLoss(loss[0]);
        return surrogate;
    }
}
