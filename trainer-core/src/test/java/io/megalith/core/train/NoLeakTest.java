package io.megalith.core.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.generate.Generator;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.Torch;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training, evaluation and generation leave no tensors behind: the number of live NDArrays under the
 * root manager is the same after 5 and after 40 more steps (a leak of even one tensor per step shows).
 */
class NoLeakTest {
    @TempDir
    Path tmp;

    @Test
    void liveTensorCountStaysFlat() throws Exception {
        for (int workers : new int[] {1, 2}) {
            MegalithConfig cfg = TinyRuns.addition(tmp.resolve("w" + workers), "runtime.workers=" + workers,
                    "runtime.threads=" + workers);
            Torch.load(1);
            AdditionData data = new AdditionData(2, 0.1, cfg.seed());
            try (NDManager root = Torch.newManager()) {
                Gpt gpt = new Gpt(GptConfig.from(cfg.model(), data.tokenizer().vocabSize()));
                ParameterStore store = new ParameterStore(gpt, root, cfg.seed());
                gpt.initConstants(root);
                GptParts parts = new GptParts(GptPlan.apply(gpt, Placement.SINGLE), data);
                try (Trainer trainer = new Trainer(cfg, parts, store, root, RankGroups.single())) {
                    Generator gen = new Generator(gpt, root);
                    long[][] prompt = {{1, 2, 10, 3, 4, 11}};
                    for (int s = 0; s < 5; s++) {
                        trainer.step(s);
                    }
                    parts.validationLoss(trainer, 2);
                    gen.generate(prompt, 3, 0, 0, 0, true);
                    int before = ((BaseNDManager) root).getManagedArrays().size();
                    for (int s = 5; s < 45; s++) {
                        trainer.step(s);
                        if (s % 10 == 0) {
                            parts.validationLoss(trainer, 2);
                            gen.generate(prompt, 3, 0, 0, 0, true);
                            gen.generate(prompt, 3, 1.0, 5, s, false);
                        }
                    }
                    int after = ((BaseNDManager) root).getManagedArrays().size();
                    assertThat(after).as("live tensors with %d worker(s)", workers).isEqualTo(before);
                    assertThat(before).as("parameters, views and constants are counted").isGreaterThan(10);
                }
            }
        }
    }
}
