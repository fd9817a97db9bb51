package io.megalith.core.family.bert.speakers;

import ai.djl.ndarray.NDManager;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.bert.BertClassification;
import io.megalith.core.family.bert.BertRun;
import io.megalith.core.finetune.ClassificationData;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.outputs.LoraOutputs;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;

/**
 * Pre-train then fine-tune, on a real task: a character-level BERT is pre-trained with masked LM (and optionally
 * next-sentence prediction) on tinyshakespeare's lines (never the held-out lines), then fine-tuned to predict the
 * speaker of a line among the most frequent speakers: fully (optionally with frozen layers) and with LoRA
 * adapters (base frozen; adapters, pooler and head trained), against the same classifier trained from scratch
 * for the same steps and the majority-class baseline. Every training is a run of the bert family ({@link BertRun}
 * through {@link TrainingRun}, one rank in process): {@code pretrain/} (masked LM), then {@code scratch/},
 * {@code finetune/} and {@code lora/} ({@code data.task speakers}, the last two from {@code checkpoint.init_from}
 * pretrain/), each a run directory under run.dir; the accuracies are the runs' held-out evaluations.
 */
public final class SpeakerExperiment {
    /** Everything the experiment needs. */
    public record Settings(long seed, int speakers, double testFraction, int seqLen, int nLayer, int nHead, int nEmbd,
            double dropout, boolean preLn, boolean nsp, int pretrainSteps, int pretrainBatch, double pretrainLr,
            int finetuneSteps, int finetuneBatch, double finetuneLr, List<String> freeze, LoraConfig lora,
            double loraLr, String runDir, String pretrainedFile) {}

    /** One variant's test accuracy, wall time and number of trained elements. */
    public record Outcome(String name, double accuracy, double seconds, long trainable) {}

    private static final Configuration HADOOP = new Configuration();
    private static final String PLAY = "play.txt";
    private static final String PRETRAIN_TEXT = "pretrain.txt";

    private SpeakerExperiment() {}

    public static List<Outcome> run(Settings s, String text, NDManager root, PrintStream log) {
        ClassificationData data = ClassificationData.speakers(text, s.speakers(),
                CharTokenizer.fit(ClassificationData.texts(text, true)), s.seqLen() - 1, s.testFraction(),
                finetuneSeed(s));
        log.println("data: " + data);
        List<Outcome> out = new ArrayList<>();
        out.add(new Outcome("majority class", data.majorityBaseline(), 0, 0));
        log.printf("majority-class baseline: %.2f%%%n", 100 * data.majorityBaseline());
        // the runs live under run.dir, or in a temporary directory deleted at the end
        Path dir = s.runDir() != null ? Path.of(s.runDir()) : io(() -> Files.createTempDirectory("speakers"));
        try {
            io(() -> Files.createDirectories(dir));
            Path play = io(() -> Files.writeString(dir.resolve(PLAY), text));
            String base;
            if (s.pretrainedFile() != null && !s.pretrainedFile().isEmpty()) {
                base = baseRun(Path.of(s.pretrainedFile()));
                log.printf("pre-trained model: %s (run %s)%n", s.pretrainedFile(), base);
            } else {
                long t0 = System.nanoTime();
                base = pretrain(s, text, dir, log);
                log.printf("pre-training: %d steps in %.1f s%n", s.pretrainSteps(), (System.nanoTime() - t0) / 1e9);
            }
            out.add(finetune("from scratch", "scratch", s, play, null, List.of(), LoraConfig.NONE, dir, root, log));
            out.add(finetune("pre-trained, full fine-tune" + (s.freeze().isEmpty() ? "" : " (frozen " + s.freeze() + ")"),
                    "finetune", s, play, base, s.freeze(), LoraConfig.NONE, dir, root, log));
            if (s.lora().enabled()) {
                out.add(finetune("pre-trained, LoRA r=" + s.lora().rank() + " " + s.lora().targets(), "lora", s, play,
                        base, List.of(), s.lora(), dir, root, log));
            }
        } finally {
            if (s.runDir() == null) {
                deleteTree(dir);
            }
        }
        return out;
    }

    /**
     * The pre-training run to start from: a bert run directory (or one of its checkpoints), or the
     * pretrained.safetensors an earlier experiment exported next to its pretrain/ run.
     */
    static String baseRun(Path pretrained) {
        if (Files.isRegularFile(pretrained)) {
            Path run = pretrained.toAbsolutePath().getParent().resolve("pretrain");
            if (!Files.isDirectory(run)) {
                throw new IllegalArgumentException("run.pretrained " + pretrained + ": no pretrain/ run next to it (the "
                        + "fine-tuning runs start from a bert run directory: name it instead)");
            }
            return run.toString();
        }
        return pretrained.toString();
    }

    /**
     * The fine-tuning runs' seed (their initialisation, held-out split and batches): pre-training's seed + 1, as the
     * experiment has always seeded its classifiers.
     */
    private static long finetuneSeed(Settings s) {
        return s.seed() + 1;
    }

    /** The model, train and runtime sections every run of the experiment shares. */
    private static String common(Settings s, long seed, Path runDir, int steps, int batch, double lr, int warmup) {
        return """
                seed: %d
                run: {dir: "%s"}
                model: {family: bert, n_layer: %d, n_head: %d, n_embd: %d, block_size: %d, dropout: %s, bias: true,
                        pre_ln: %s, type_vocab_size: 2, nsp: %s}
                train: {max_steps: %d, batch_size: %d, lr: %s, min_lr: %s, warmup_steps: %d, weight_decay: 0.01,
                        beta2: 0.99, grad_clip: 1.0, eval_every: 0, log_every: 100}
                runtime: {threads: 1}
                launch: {master: inprocess}
                """.formatted(seed, runDir, s.nLayer(), s.nHead(), s.nEmbd(), s.seqLen() - 1, s.dropout(), s.preLn(),
                s.nsp(), steps, batch, lr, lr / 10, warmup);
    }

    /** Masked-LM (+ NSP) pre-training on every line but the held-out ones; returns the run directory. */
    static String pretrain(Settings s, String text, Path dir, PrintStream log) {
        Path lines = io(() -> Files.writeString(dir.resolve(PRETRAIN_TEXT),
                ClassificationData.withoutHeldOut(text, s.speakers(), s.testFraction(), finetuneSeed(s))));
        Path runDir = fresh(dir.resolve("pretrain"));
        String yaml = common(s, s.seed(), runDir, s.pretrainSteps(), s.pretrainBatch(), s.pretrainLr(),
                Math.max(1, s.pretrainSteps() / 20))
                + "data: {task: text, path: \"%s\", tokenizer: char}\ncheckpoint: {every: 0}\n".formatted(lines);
        MegalithConfig cfg = ConfigLoader.fromYaml(yaml, List.of(), "speaker experiment: pre-training");
        log.printf("pre-training BERT (%s, nsp %s) for %d steps in %s%n", s.preLn() ? "pre-LN" : "post-LN", s.nsp(),
                s.pretrainSteps(), runDir);
        try (TrainingRun run = ModelFamilies.BERT.newInProcessRun(cfg, HADOOP, log)) {
            run.run();
            if (s.runDir() != null) {
                Path f = dir.resolve("pretrained.safetensors");
                io(() -> {
                    ModelFiles.save(f, run.fullParameters(), Map.of("family", ModelFamilies.BERT.name()));
                    return null;
                });
                log.println("saved " + f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return runDir.toString();
    }

    /**
     * One classification run ({@code data.task speakers}) in {@code dir/name}: from scratch ({@code base} null) or
     * from the pre-training run, with {@code freeze} prefixes frozen or {@code lora}'s adapters.
     */
    static Outcome finetune(String name, String runName, Settings s, Path play, String base, List<String> freeze,
            LoraConfig lora, Path dir, NDManager root, PrintStream log) {
        double lr = lora.enabled() ? s.loraLr() : s.finetuneLr();
        Path runDir = fresh(dir.resolve(runName));
        StringBuilder yaml = new StringBuilder(common(s, finetuneSeed(s), runDir, s.finetuneSteps(), s.finetuneBatch(),
                lr, Math.max(1, s.finetuneSteps() / 10)));
        yaml.append("data: {task: speakers, path: \"%s\", speakers: %d, held_out_fraction: %s}\n".formatted(play,
                s.speakers(), s.testFraction()));
        yaml.append("finetune: {freeze: [%s], lora: {rank: %d, alpha: %s, targets: [%s]}}\n".formatted(
                String.join(", ", freeze), lora.rank(), lora.alpha(), String.join(", ", lora.targets())));
        yaml.append("checkpoint: {every: 0, init_from: \"%s\"}\n".formatted(base == null ? "" : base));
        MegalithConfig cfg = ConfigLoader.fromYaml(yaml.toString(), List.of("model.nsp=false"),
                "speaker experiment: " + runName);
        long start = System.nanoTime();
        try (TrainingRun run = ModelFamilies.BERT.newInProcessRun(cfg, HADOOP, log)) {
            BertClassification task = ((BertRun) run.rankModel()).classification();
            log.printf("%s: training %d elements for %d steps in %s%n", name, task.trainableElements(),
                    s.finetuneSteps(), cfg.run().dir());
            double acc = run.run().exactMatch(); // the held-out accuracy of the run's last evaluation
            if (lora.enabled()) {
                // the run wrote the adapters (with the head and pooler that trained with them) and the merged model:
                // built without LoRA, the merged model must give the same predictions
                Path adapters = runDir.resolve(LoraOutputs.ADAPTERS_FILE);
                Path merged = runDir.resolve(LoraOutputs.MERGED_FILE);
                ModelFiles.Adapters saved = ModelFiles.loadAdapters(adapters);
                double mergedAcc = task.evaluateMerged(ModelFiles.load(merged).tensors(), root).accuracy();
                long adapterElements = saved.tensors().values().stream().mapToLong(t -> t.numel()).sum();
                log.printf("%s: saved %d tensors (%d elements) to %s; merged into the pre-trained weights: test "
                        + "accuracy %.2f%% (unmerged %.2f%%)%n", name, saved.tensors().size(), adapterElements,
                        adapters, 100 * mergedAcc, 100 * acc);
                Files.copy(adapters, dir.resolve("lora-adapters.safetensors"), StandardCopyOption.REPLACE_EXISTING);
                Files.copy(merged, dir.resolve("lora-merged.safetensors"), StandardCopyOption.REPLACE_EXISTING);
            } else if (base != null && s.runDir() != null) {
                Path f = dir.resolve("finetuned.safetensors");
                ModelFiles.save(f, run.fullParameters(), Map.of("family", ModelFamilies.BERT.name()));
                log.println("saved " + f);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            log.printf("%s: test accuracy %.2f%% (%.1f s)%n", name, 100 * acc, seconds);
            return new Outcome(name, acc, seconds, task.trainableElements());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An experiment trains every stage afresh (a run directory left by the last one would resume instead). */
    private static Path fresh(Path runDir) {
        if (Files.exists(runDir)) {
            deleteTree(runDir);
        }
        return runDir;
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private interface IoWork<T> {
        T run() throws IOException;
    }

    private static <T> T io(IoWork<T> w) {
        try {
            return w.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The outcomes as a text table. */
    public static String table(List<Outcome> outcomes) {
        StringBuilder sb = new StringBuilder(String.format("%-62s %9s %12s %8s%n", "variant", "accuracy", "trained", "time"));
        for (Outcome o : outcomes) {
            sb.append(String.format("%-62s %8.2f%% %12d %7.1fs%n", o.name(), 100 * o.accuracy(), o.trainable(), o.seconds()));
        }
        return sb.toString();
    }
}
