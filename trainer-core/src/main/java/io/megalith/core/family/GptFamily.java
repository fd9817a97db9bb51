package io.megalith.core.family;

import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.gpt.GptRun;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/** nanoGPT's GPT ({@code model/Gpt}), split by its plan ({@code parallelize/GptPlan}) for every layout Megalith has. */
final class GptFamily implements ModelFamily {
    @Override
    public String name() {
        return MegalithConfig.Model.DEFAULT_FAMILY;
    }

    @Override
    public String modelName() {
        return "GPT";
    }

    @Override
    public Objective objective() {
        return Objective.NEXT_TOKEN;
    }

    @Override
    public void checkConfig(MegalithConfig cfg, Checks c) {
        c.require(!"reverse".equals(cfg.data().task()), "data.task: reverse is the encoder_decoder task; set "
                + "model.family=encoder_decoder or data.task=text | addition");
    }

    /**
     * wte (tied head), wpe, blocks, ln_f; MoE blocks: experts' MLPs and a router. A structurally pruned GPT's
     * attention is A = n_head x head_size wide inside (qkv [3A, C], proj [C, A]) and its dense MLPs mlp_hidden.
     */
    @Override
    public long parameterCount(MegalithConfig.Model m, long vocab) {
        LayerSizes s = LayerSizes.of(m);
        long c = s.width();
        long bias = m.bias() ? 1 : 0;
        long a = (long) m.nHead() * (m.headSize() > 0 ? m.headSize() : c / m.nHead());
        long hidden = m.mlpHidden() > 0 ? m.mlpHidden() : 4 * c;
        long attention = 4 * a * c + 3 * a * bias + c * bias;
        long mlp = 2 * c * hidden + (hidden + c) * bias;
        long params = vocab * c + (long) m.blockSize() * c + s.norm();
        for (int l = 0; l < m.nLayer(); l++) {
            boolean moe = m.moe() != null && m.moe().moeLayer(l);
            params += attention + 2 * s.norm() + (moe ? m.moe().experts() * s.mlp() + c * m.moe().experts() : mlp);
        }
        return params;
    }

    @Override
    public RankModel rankModel(RankModel.Context context) throws IOException {
        return new GptRun(context);
    }

    @Override
    public TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        return TrainedGpt.load(which, hadoop, threads);
    }

    @Override
    public boolean distillable() {
        return true;
    }

    @Override
    public boolean pipelineParallel() {
        return true;
    }

    @Override
    public boolean mixtureOfExperts() {
        return true;
    }

    @Override
    public boolean sequenceParallel() {
        return true;
    }

    @Override
    public boolean workerThreads() {
        return true;
    }

    @Override
    public boolean promptAnswerPairs() {
        return true;
    }
}
