package io.megalith.core.family;

import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.bert.BertRun;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/**
 * BERT ({@code model/bert}): masked-LM pre-training (optionally with NSP) or sequence classification, trained by
 * {@link BertRun}.
 */
final class BertFamily implements ModelFamily {
    @Override
    public String name() {
        return "bert";
    }

    @Override
    public String modelName() {
        return name() + " model";
    }

    @Override
    public Objective objective() {
        return Objective.MASKED_TOKENS;
    }

    @Override
    public void checkConfig(MegalithConfig cfg, Checks c) {
        String task = cfg.data().task();
        c.require(!"reverse".equals(task) && !"pairs".equals(task), "data.task: model.family bert pre-trains "
                + "(masked LM) on the tokens of data.task text or addition, or classifies (data.task classify | "
                + "speakers) (got " + task + ")");
    }

    /** Token, position and segment embeddings; post-LN blocks; MLM transform; pooler. */
    @Override
    public long parameterCount(MegalithConfig.Model m, long vocab) {
        LayerSizes s = LayerSizes.of(m);
        long c = s.width();
        return vocab * c + (long) m.blockSize() * c + (long) m.typeVocabSize() * c + 2 * c
                + m.nLayer() * (s.attention() + s.mlp() + 2 * s.norm()) + (c * c + c) + 2 * c + vocab + (c * c + c);
    }

    @Override
    public RankModel rankModel(RankModel.Context context) throws IOException {
        return new BertRun(context);
    }

    /** An encoder does not generate: its runs are bases to fine-tune. */
    @Override
    public TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) {
        throw new IllegalArgumentException(which.runDir() + " holds a model.family " + name() + " run: an encoder does "
                + "not generate text; fine-tune it for a task with megalith finetune (model.family: " + name() + ")");
    }

    @Override
    public boolean nextSentencePrediction() {
        return true;
    }

    @Override
    public boolean sequenceClassification() {
        return true;
    }
}
