package io.megalith.core.parallelize;

import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Parameter;
import io.megalith.core.pipeline.PpLayout;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * How the GPT is split over ranks (torchtitan's parallelize_llama for {@link Gpt}), applied to the whole one-rank
 * model after it is declared and before its storage is bound, so every parameter keeps its name and its one-rank
 * init (a slice fills its part of the full tensor):
 * <ul>
 *   <li>pipeline: stage s of P keeps blocks [L s/P, L (s+1)/P), wte on the first and last stage (the head is tied to
 *       it), wpe on the first, ln_f on the last;
 *   <li>tensor parallelism (Megatron): wte vocab-parallel (rows of this rank), wpe PARTIAL (added as wpe/tp by
 *       each rank), attn.qkv column-parallel (the q, k and v rows of this rank's heads), attn.proj row-parallel (the
 *       same heads' columns), mlp.fc column-parallel and mlp.proj row-parallel (a slice of the 4C hidden units), every
 *       LayerNorm PARTIAL (each rank sees part of its gradient); LoRA adapters split with their layers;
 *   <li>expert parallelism: each MoE block keeps this rank's experts (MoE blocks run with tp 1);
 *   <li>sequence parallelism: no parameter changes; the segment chain cuts differently ({@link ParallelGpt}).
 * </ul>
 */
public final class GptPlan {
    private GptPlan() {}

    /** Applies the plan for {@code placement} to {@code gpt} (in place) and returns the model as this rank runs it. */
    public static ParallelGpt apply(Gpt gpt, Placement placement) {
        GptConfig cfg = gpt.config();
        TpLayout tp = placement.tp();
        PpLayout pp = placement.pp();
        if (!whole(gpt)) {
            throw new IllegalArgumentException("a plan applies to the whole one-rank model (not to a rank's part)");
        }
        if (pp.size() > cfg.nLayer()) {
            throw new IllegalArgumentException(pp.size() + " pipeline stages for " + cfg.nLayer() + " layers");
        }
        if (tp.parallel() && (cfg.nHead() % tp.size() != 0)) {
            throw new IllegalArgumentException("n_head " + cfg.nHead() + " is not divisible by tp " + tp.size());
        }
        gpt.keep(pp.firstBlock(cfg.nLayer()), pp.endBlock(cfg.nLayer()), pp.first() || pp.last(), pp.first(),
                pp.last());
        if (tp.parallel()) {
            tensorParallel(gpt, tp);
        }
        if (placement.expertParallel() != null) {
            for (TransformerLayer b : gpt.blocks()) {
                if (b.moe() != null) {
                    b.moe().keepExperts(placement.expertParallel().rank(), placement.expertParallel().size());
                }
            }
        }
        return new ParallelGpt(gpt, placement);
    }

    /** Whether {@code gpt} is the whole one-rank model: no stage's part, no slice, every expert. */
    private static boolean whole(Gpt gpt) {
        GptConfig cfg = gpt.config();
        return gpt.blocks().size() == cfg.nLayer() && gpt.wte() != null && gpt.wpe() != null && gpt.lnF() != null
                && gpt.parameters().stream().allMatch(p -> p.sharding().kind() == Parameter.Sharding.Kind.NONE)
                && gpt.blocks().stream().allMatch(b -> b.moe() == null || b.moe().localExperts() == cfg.moe().experts());
    }

    private static void tensorParallel(Gpt gpt, TpLayout tp) {
        GptConfig cfg = gpt.config();
        if (gpt.wte() != null) {
            gpt.wte().parallelize(tp.part(cfg.vocabSize()));
        }
        if (gpt.wpe() != null) {
            gpt.wpe().weight().shard(Parameter.Sharding.PARTIAL); // added as wpe/tp on every rank
        }
        for (TransformerLayer b : gpt.blocks()) {
            TransformerPlan.layer(b, tp); // heads of attn.qkv/proj, a slice of mlp.fc/proj, ln1 and ln2 PARTIAL
        }
        if (gpt.lnF() != null) {
            gpt.lnF().markPartial();
        }
    }
}
