package io.megalith.core.zero;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.bert.MlmPart;
import io.megalith.core.family.seq2seq.TeacherForcedPart;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.ReverseDigitsTask;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.EncoderDecoderPlan;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.FamiliesTensorParallelEquivalenceTest;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.List;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * ZeRO-2 and ZeRO-3 train the segmented families through the GPT's partitioned path (the one trainer): BERT (masked
 * LM + NSP) and the encoder-decoder (teacher-forced reversal, whose two chains share the tied embedding) at DP=2,
 * ranks over real sockets, dropout on, give the one-rank losses of 5 AdamW steps within 1e-5 relative; each rank
 * holds only part of the AdamW state.
 */
class FamiliesZeroEquivalenceTest {
    static final int STEPS = 5;

    record Result(List<Double> losses, long optimizerBytes) {}

    static Result train(boolean bert, int stage, Communicator dp) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        MegalithConfig cfg = ConfigLoader.fromYaml(ConfigLoader.toYaml(FamiliesTensorParallelEquivalenceTest.config(
                dp.size(), 1)), List.of("zero.stage=" + stage), "families zero test");
        try (NDManager manager = Torch.newManager()) {
            List<Segment> plan;
            PartSource.Rows rows;
            EncoderDecoder encoderDecoder = null;
            if (bert) {
                BertConfig bc = new BertConfig(FamiliesTensorParallelEquivalenceTest.VOCAB, 16, 2, 2, 4, 32, 0.1, true,
                        false, true, 0, LoraConfig.NONE);
                ParallelBert model = BertPlan.apply(new Bert(bc), Placement.SINGLE);
                plan = model.segments(null, null);
                rows = (step, first, count) -> MlmPart.of(model,
                        FamiliesTensorParallelEquivalenceTest.bertRows(step, first, count));
            } else {
                ReverseDigitsTask task = new ReverseDigitsTask(2, 6, 0.1, 5);
                ParallelEncoderDecoder model = EncoderDecoderPlan.apply(
                        new EncoderDecoder(task.modelConfig(2, 2, 4, 32, 0.1)), Placement.SINGLE);
                plan = model.segments(null, null).all();
                encoderDecoder = model.model();
                rows = (step, first, count) -> TeacherForcedPart.of(model,
                        FamiliesTensorParallelEquivalenceTest.reversalRows(task, step, first, count));
            }
            RankGroups groups = RankGroups.dataParallelOnly(dp);
            try (ModelParameters params = Trainer.createParameters(cfg, plan, manager, groups);
                    Trainer trainer = new Trainer(cfg, PartSource.of(plan, rows), params, manager, groups)) {
                if (encoderDecoder != null) {
                    encoderDecoder.initConstants(manager);
                }
                List<Double> losses = new ArrayList<>();
                for (int s = 0; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                }
                return new Result(losses, trainer.memoryBytes()[2]);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    static void check(boolean bert) throws Exception {
        String family = bert ? "bert" : "encoder-decoder";
        Result one = train(bert, 0, new SingleRankCommunicator());
        assertThat(one.losses().get(STEPS - 1)).as("%s trains", family).isLessThan(one.losses().get(0));
        for (int stage : new int[] {2, 3}) {
            List<Result> ranks = LoopbackRanks.run(DeviceMesh.of(2, 1, 1),
                    (ParallelContext ctx) -> train(bert, stage, ctx.dataParallel()));
            for (Result r : ranks) {
                for (int s = 0; s < STEPS; s++) {
                    assertThat(r.losses().get(s)).as("%s zero %d step %d loss", family, stage, s + 1)
                            .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
                }
                // each rank keeps the AdamW moments of its half of the parameters
                assertThat((double) r.optimizerBytes()).as("%s zero %d optimizer bytes", family, stage)
                        .isLessThan(one.optimizerBytes() * 0.6);
            }
        }
    }

    @Test
    void bertMaskedLmAndNspAtDp2WithZero2And3ReproducesOneRank() throws Exception {
        check(true);
    }

    @Test
    void encoderDecoderAtDp2WithZero2And3ReproducesOneRank() throws Exception {
        check(false);
    }
}
