package io.megalith.core.family;

import io.megalith.core.config.Checks;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.seq2seq.Seq2SeqRun;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedModel;
import io.megalith.core.inference.TrainedSeq2Seq;
import io.megalith.core.train.Objective;
import io.megalith.core.train.RankModel;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/**
 * The encoder-decoder ({@code model/seq2seq}): source to target on data.task reverse (built in) or pairs
 * (source<TAB>target lines), trained by {@link Seq2SeqRun}.
 */
final class EncoderDecoderFamily implements ModelFamily {
    @Override
    public String name() {
        return "encoder_decoder";
    }

    @Override
    public String modelName() {
        return name() + " model";
    }

    @Override
    public Objective objective() {
        return Objective.SOURCE_TO_TARGET;
    }

    @Override
    public void checkConfig(MegalithConfig cfg, Checks c) {
        MegalithConfig.Data data = cfg.data();
        boolean pairs = "pairs".equals(data.task()); // the task name is shared with the GPT's; the family decides
        c.require("reverse".equals(data.task()) || pairs, "data.task: model.family encoder_decoder trains on data.task "
                + "reverse (built in) or pairs (source<TAB>target lines of data.path) (got " + data.task() + ")");
        if (pairs) {
            c.require(data.path() != null && !data.path().isBlank(), "data.path: must be set for data.task=pairs "
                    + "with model.family encoder_decoder: a file of source<TAB>target lines (e.g. --set "
                    + "data.path=/path/to/pairs.tsv)");
        }
        c.atLeast("data.min_len", data.minLen(), 1);
        c.require(data.maxLen() >= data.minLen(), "data.max_len: must be >= data.min_len (" + data.maxLen() + " < "
                + data.minLen() + ")");
    }

    /** One tied embedding; decoder blocks add cross-attention. */
    @Override
    public long parameterCount(MegalithConfig.Model m, long vocab) {
        LayerSizes s = LayerSizes.of(m);
        long c = s.width();
        return vocab * c + 2L * m.blockSize() * c + m.nEncoderLayer() * (s.attention() + s.mlp() + 2 * s.norm())
                + m.nDecoderLayer() * (2 * s.attention() + s.mlp() + 3 * s.norm()) + 2 * s.norm();
    }

    @Override
    public int layers(MegalithConfig.Model m) {
        return m.nEncoderLayer() + m.nDecoderLayer();
    }

    @Override
    public RankModel rankModel(RankModel.Context context) throws IOException {
        return new Seq2SeqRun(context);
    }

    @Override
    public TrainedModel loadTrained(RunCheckpoint which, Configuration hadoop, int threads) throws IOException {
        return TrainedSeq2Seq.load(which, this::named, hadoop, threads);
    }
}
