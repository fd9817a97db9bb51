package io.megalith.core.model.seq2seq;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.MlmMasking;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.ModuleTrainer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Training the new families with {@link ModuleTrainer}, and greedy and beam decoding over the decoder cache,
 * leave no tensors behind: the live tensor count under the root manager is flat.
 */
class FamiliesNoLeakTest {
    @Test
    void liveTensorCountStaysFlat() {
        Torch.load(1);
        try (NDManager root = Torch.newManager()) {
            ReverseDigitsTask task = new ReverseDigitsTask(3, 5, 0.1, 1);
            EncoderDecoder model = new EncoderDecoder(task.modelConfig(1, 1, 2, 16, 0.1));
            Bert bert = new Bert(new BertConfig(20, 10, 2, 1, 2, 16, 0.1, true, false, true, 0,
                    new LoraConfig(2, 4, List.of("attn.qkv"))));
            MlmMasking masking = new MlmMasking(20, 3, 0, 1, 2);
            long[] ids = new Random(1).longs(4 * 10, 4, 20).toArray();
            try (ModuleTrainer t = new ModuleTrainer(model, root, 1, ModuleTrainer.Settings.of(1e-3, 100));
                    ModuleTrainer tb = new ModuleTrainer(bert, Lora.adaptersOnly(), root, 1,
                            ModuleTrainer.Settings.of(1e-3, 100))) {
                Seq2SeqGenerator gen = new Seq2SeqGenerator(model, root);
                Runnable work = new Runnable() {
                    long step;

                    @Override
                    public void run() {
                        Seq2SeqTask.Batch b = task.train(step, 0, 8);
                        t.step(step, ctx -> model.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(), b.tgtLen(), b.batch(), ctx));
                        MlmBatch mb = masking.batch(ids, null, new long[] {0, 1, 0, 1}, 4, 10, step);
                        tb.step(step, ctx -> bert.pretrainingLoss(mb, ctx));
                        Seq2SeqTask.Batch h = task.heldOut(0, 3);
                        gen.greedy(h.src(), 3, h.srcLen(), task.maxTargetLen());
                        gen.beam(h.src(), 3, h.srcLen(), task.maxTargetLen(), 3, 1.0);
                        step++;
                    }
                };
                for (int i = 0; i < 3; i++) {
                    work.run();
                }
                int before = ((BaseNDManager) root).getManagedArrays().size();
                for (int i = 0; i < 15; i++) {
                    work.run();
                }
                int after = ((BaseNDManager) root).getManagedArrays().size();
                assertThat(before).as("parameters and views are counted").isGreaterThan(10);
                assertThat(after).as("live tensors").isEqualTo(before);
                // control: a tensor left in a sub-manager is counted
                NDManager sub = root.newSubManager();
                Ops.floats(sub, new float[] {1f}, 1);
                assertThat(((BaseNDManager) root).getManagedArrays().size()).isEqualTo(before + 1);
                sub.close();
            }
        }
    }
}
