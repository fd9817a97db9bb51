package io.megalith.core.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.gpt.GptRun;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.TinyRuns;
import io.megalith.core.train.TrainingRun;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * KV-cache decoding must produce exactly the tokens of uncached decoding (same logits, same counter-based
 * draws), also past block_size where the generator falls back to uncached, cropped decoding.
 */
class GeneratorTest {
    private static final int BLOCK = 16;

    @TempDir
    static Path tmp;

    private static NDManager manager;
    private static Gpt randomModel;
    private static TrainingRun trainedRun;

    @BeforeAll
    static void setUp() throws Exception {
        Torch.load(1);
        manager = Torch.newManager();
        randomModel = new Gpt(new GptConfig(23, BLOCK, 2, 4, 32, 0.0, false));
        new ParameterStore(randomModel, manager, 5);
        randomModel.initConstants(manager);

        MegalithConfig cfg = TinyRuns.text(tmp.resolve("run"), TinyRuns.writeText(tmp, 5000), "train.max_steps=40",
                "model.dropout=0.0", "train.grad_accum=1", "train.batch_size=8", "checkpoint.every=0",
                "train.eval_every=0");
        assertThat(cfg.model().blockSize()).isEqualTo(BLOCK);
        trainedRun = ModelFamilies.GPT.newInProcessRun(cfg, TinyRuns.CONF, TinyRuns.QUIET);
        trainedRun.run();
    }

    @AfterAll
    static void tearDown() {
        if (trainedRun != null) {
            trainedRun.close();
        }
        if (manager != null) {
            manager.close();
        }
    }

    private static Gpt model(String which) {
        return "random".equals(which) ? randomModel : ((GptRun) trainedRun.rankModel()).model();
    }

    static Stream<Arguments> cases() {
        return Stream.of("random", "trained").flatMap(model -> Stream.of(
                // greedy and top-k sampling, within block_size (4 + 12 = 16) and past it (4 + 30 > 16)
                Arguments.of(model, 0.0, 0, 12), Arguments.of(model, 0.0, 0, 30),
                Arguments.of(model, 1.0, 5, 12), Arguments.of(model, 1.0, 5, 30),
                Arguments.of(model, 1.0, 0, 30)));
    }

    @ParameterizedTest(name = "{0} model, temperature {1}, top_k {2}, {3} new tokens")
    @MethodSource("cases")
    void cachedDecodingGivesExactlyTheUncachedTokens(String which, double temperature, int topK, int maxNew) {
        Gpt model = model(which);
        Generator gen = new Generator(model, manager);
        Set<String> outputs = new HashSet<>();
        for (long seed : new long[] {1, 2, 3}) {
            long[][] prompts = prompts(3, 4, model.config().vocabSize(), seed);
            long[][] cached = gen.generate(prompts, maxNew, temperature, topK, seed, true);
            long[][] uncached = gen.generate(prompts, maxNew, temperature, topK, seed, false);
            assertThat(cached).hasDimensions(3, 4 + maxNew);
            for (int r = 0; r < 3; r++) {
                assertThat(cached[r]).as("row %d, seed %d", r, seed).containsExactly(uncached[r]);
                assertThat(Arrays.copyOf(cached[r], 4)).containsExactly(prompts[r]);
                assertThat(Arrays.stream(cached[r]).allMatch(t -> t >= 0 && t < model.config().vocabSize())).isTrue();
                outputs.add(Arrays.toString(Arrays.copyOfRange(cached[r], 4, 4 + maxNew)));
            }
        }
        // not a degenerate model or sampler: rows and seeds give different continuations
        assertThat(outputs).hasSizeGreaterThan(3);
    }

    @Test
    void greedyPicksTheArgmaxOfAFullForwardOverTheCroppedContext() {
        for (String which : new String[] {"random", "trained"}) {
            Gpt model = model(which);
            long[][] prompts = prompts(2, 3, model.config().vocabSize(), 9);
            long[][] out = new Generator(model, manager).generate(prompts, 25, 0, 0, 0, true);
            for (int r = 0; r < out.length; r++) {
                for (int len = 3; len < out[r].length; len++) {
                    int from = Math.max(0, len - BLOCK);
                    long[] ctx = Arrays.copyOfRange(out[r], from, len);
                    float[] logits = lastPositionLogits(model, ctx);
                    assertThat(out[r][len]).as("%s model, row %d, position %d", which, r, len).isEqualTo(argmax(logits));
                }
            }
        }
    }

    @Test
    void topKOneIsGreedy() {
        for (String which : new String[] {"random", "trained"}) {
            Gpt model = model(which);
            Generator gen = new Generator(model, manager);
            long[][] prompts = prompts(3, 4, model.config().vocabSize(), 4);
            for (long seed : new long[] {1, 2}) {
                long[][] greedy = gen.generate(prompts, 20, 0, 0, seed, true);
                assertThat(gen.generate(prompts, 20, 1.0, 1, seed, true)).isDeepEqualTo(greedy);
                assertThat(gen.generate(prompts, 20, 5.0, 1, seed, false)).isDeepEqualTo(greedy);
            }
        }
    }

    @Test
    void sampleAtTemperatureZeroIsArgmax() {
        Random rnd = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            int vocab = 2 + rnd.nextInt(50);
            int rows = 3;
            float[] logits = new float[rows * vocab];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) rnd.nextGaussian() * 3;
            }
            for (int r = 0; r < rows; r++) {
                float[] row = Arrays.copyOfRange(logits, r * vocab, (r + 1) * vocab);
                assertThat(Generator.sample(logits, r * vocab, vocab, 0, 0, trial)).isEqualTo(argmax(row));
                assertThat(Generator.sample(logits, r * vocab, vocab, 0, 3, trial)).isEqualTo(argmax(row));
                assertThat(Generator.sample(logits, r * vocab, vocab, 0.7, 1, trial)).isEqualTo(argmax(row));
            }
        }
    }

    @Test
    void topKSamplesOnlyTheKMostLikelyWithSoftmaxFrequencies() {
        float[] logits = {0.5f, 3f, -1f, 2f, 1f, 0f};
        int[] counts = new int[logits.length];
        int n = 40_000;
        for (int i = 0; i < n; i++) {
            counts[Generator.sample(logits, 0, logits.length, 1.0, 3, CounterRng.key(77, i))]++;
        }
        // top 3: ids 1 (3.0), 3 (2.0), 4 (1.0); the rest is never drawn
        assertThat(counts[0] + counts[2] + counts[5]).isZero();
        double z = Math.exp(3) + Math.exp(2) + Math.exp(1);
        assertThat(counts[1] / (double) n).isCloseTo(Math.exp(3) / z, Offset.offset(0.01));
        assertThat(counts[3] / (double) n).isCloseTo(Math.exp(2) / z, Offset.offset(0.01));
        assertThat(counts[4] / (double) n).isCloseTo(Math.exp(1) / z, Offset.offset(0.01));
        // temperature 2 flattens the distribution: the top token is drawn less often
        int top = 0;
        for (int i = 0; i < n; i++) {
            top += Generator.sample(logits, 0, logits.length, 2.0, 3, CounterRng.key(77, i)) == 1 ? 1 : 0;
        }
        double z2 = Math.exp(1.5) + Math.exp(1) + Math.exp(0.5);
        assertThat(top / (double) n).isCloseTo(Math.exp(1.5) / z2, Offset.offset(0.01));
    }

    @Test
    void promptsOfDifferentLengthsAreRejected() {
        long[][] prompts = {{1, 2, 3}, {1, 2}};
        assertThatThrownBy(() -> new Generator(randomModel, manager).generate(prompts, 2, 0, 0, 0, true))
                .isInstanceOf(IllegalArgumentException.class);
    }

    // ---------------------------------------------------------------- helpers

    private static long[][] prompts(int rows, int len, int vocab, long seed) {
        Random rnd = new Random(seed);
        long[][] p = new long[rows][len];
        for (long[] row : p) {
            for (int i = 0; i < len; i++) {
                row[i] = rnd.nextInt(vocab);
            }
        }
        return p;
    }

    /** Logits of the last position by a plain full forward (no cache, all positions). */
    private static float[] lastPositionLogits(Gpt model, long[] ids) {
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            float[] all = model.logits(Ops.longs(m, ids, 1, ids.length), ForwardContext.inference(m)).toFloatArray();
            int vocab = model.config().vocabSize();
            return Arrays.copyOfRange(all, all.length - vocab, all.length);
        }
    }

    private static int argmax(float[] xs) {
        int best = 0;
        for (int i = 1; i < xs.length; i++) {
            if (xs[i] > xs[best]) {
                best = i;
            }
        }
        return best;
    }
}
