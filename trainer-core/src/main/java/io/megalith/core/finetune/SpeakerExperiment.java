package io.megalith.core.finetune;

import ai.djl.ndarray.NDManager;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.MlmMasking;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.optim.ModuleTrainer;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Pre-train then fine-tune, on a real task: a character-level BERT is pre-trained with masked LM (and optionally
 * next-sentence prediction) on tinyshakespeare's lines (never the test lines), then fine-tuned to predict the
 * speaker of a line among the most frequent speakers: fully (optionally with frozen layers) and with LoRA
 * adapters (base frozen; adapters, pooler and head trained), against the same classifier trained from scratch
 * for the same steps and the majority-class baseline.
 */
public final class SpeakerExperiment {
    /** Everything the experiment needs. */
    public record Settings(long seed, int speakers, double testFraction, int seqLen, int nLayer, int nHead, int nEmbd,
            double dropout, boolean preLn, boolean nsp, int pretrainSteps, int pretrainBatch, double pretrainLr,
            int finetuneSteps, int finetuneBatch, double finetuneLr, List<String> freeze, LoraConfig lora,
            double loraLr, String runDir, String pretrainedFile) {}

    /** One variant's test accuracy, wall time and number of trained elements. */
    public record Outcome(String name, double accuracy, double seconds, long trainable) {}

    private SpeakerExperiment() {}

    public static List<Outcome> run(Settings s, String text, NDManager root, PrintStream log) {
        ShakespeareSpeakers data = new ShakespeareSpeakers(text, s.speakers(), s.testFraction(), s.seed());
        log.println("data: " + data);
        BertConfig cfg = new BertConfig(data.vocabSize(), s.seqLen(), 2, s.nLayer(), s.nHead(), s.nEmbd(), s.dropout(), true,
                s.preLn(), s.nsp(), ShakespeareSpeakers.PAD, LoraConfig.NONE);
        List<Outcome> out = new ArrayList<>();
        out.add(new Outcome("majority class", data.majorityBaseline(), 0, 0));
        log.printf("majority-class baseline: %.2f%%%n", 100 * data.majorityBaseline());

        Map<String, HostTensor> pretrained;
        if (s.pretrainedFile() != null && !s.pretrainedFile().isEmpty()) {
            pretrained = io(() -> ModelFiles.load(Path.of(s.pretrainedFile())).tensors());
            log.printf("pre-trained model: %s (%d tensors)%n", s.pretrainedFile(), pretrained.size());
        } else {
            long t0 = System.nanoTime();
            pretrained = pretrain(s, cfg, data, root, log);
            log.printf("pre-training: %d steps in %.1f s%n", s.pretrainSteps(), (System.nanoTime() - t0) / 1e9);
            if (s.runDir() != null) {
                Path f = Path.of(s.runDir(), "pretrained.safetensors");
                io(() -> {
                    ModelFiles.save(f, pretrained, Map.of("family", ModelFamilies.BERT.name()));
                    return null;
                });
                log.println("saved " + f);
            }
        }

        out.add(finetune("from scratch", s, cfg, data, null, p -> true, root, log));
        out.add(finetune("pre-trained, full fine-tune" + (s.freeze().isEmpty() ? "" : " (frozen " + s.freeze() + ")"), s,
                cfg, data, pretrained, Pretrained.trainableExcept(s.freeze()), root, log));
        if (s.lora().enabled()) {
            Predicate<Parameter> loraTrainable = p -> Lora.isAdapter(p.name())
                    || p.name().startsWith(SequenceClassifier.HEAD + ".") || p.name().startsWith("pooler.");
            out.add(finetune("pre-trained, LoRA r=" + s.lora().rank() + " " + s.lora().targets(), s, cfg.withLora(s.lora()),
                    data, pretrained, loraTrainable, root, log));
        }
        return out;
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

    static Map<String, HostTensor> pretrain(Settings s, BertConfig cfg, ShakespeareSpeakers data, NDManager root,
            PrintStream log) {
        Bert bert = new Bert(cfg);
        MlmMasking masking = new MlmMasking(cfg.vocabSize(), ShakespeareSpeakers.MASK, ShakespeareSpeakers.PAD,
                ShakespeareSpeakers.CLS, ShakespeareSpeakers.SEP);
        ModuleTrainer.Settings optim = new ModuleTrainer.Settings(s.pretrainLr(), s.pretrainLr() / 10,
                Math.max(1, s.pretrainSteps() / 20), s.pretrainSteps(), 0.01, 0.9, 0.99, 1e-8, 1.0);
        try (ModuleTrainer trainer = new ModuleTrainer(bert, root, s.seed(), optim)) {
            log.printf("pre-training BERT (%d parameters, %s, nsp %s) for %d steps%n", trainer.store().numel(),
                    cfg.preLn() ? "pre-LN" : "post-LN", cfg.nsp(), s.pretrainSteps());
            double avg = 0;
            long start = System.nanoTime();
            for (int step = 0; step < s.pretrainSteps(); step++) {
                long[][] rows = data.pretrainingBatch(s.seed(), step, s.pretrainBatch(), s.seqLen(), cfg.nsp());
                MlmBatch batch = masking.batch(rows[0], rows[1], rows[2], s.pretrainBatch(), s.seqLen(),
                        CounterRng.key(CounterRng.key(s.seed(), "mlm"), step));
                double loss = trainer.step(step, ctx -> bert.pretrainingLoss(batch, ctx));
                avg = step == 0 ? loss : 0.98 * avg + 0.02 * loss;
                if ((step + 1) % 100 == 0 || step == s.pretrainSteps() - 1) {
                    log.printf("  pretrain step %5d  loss %.4f  %.1f s%n", step + 1, avg, (System.nanoTime() - start) / 1e9);
                }
            }
            return trainer.store().toHost();
        }
    }

    static Outcome finetune(String name, Settings s, BertConfig cfg, ShakespeareSpeakers data,
            Map<String, HostTensor> pretrained, Predicate<Parameter> trainable, NDManager root, PrintStream log) {
        SequenceClassifier model = new SequenceClassifier(cfg, data.speakers().size());
        double lr = cfg.lora().enabled() ? s.loraLr() : s.finetuneLr();
        ModuleTrainer.Settings optim = new ModuleTrainer.Settings(lr, lr / 10,
                Math.max(1, s.finetuneSteps() / 10), s.finetuneSteps(), 0.01, 0.9, 0.99, 1e-8, 1.0);
        long start = System.nanoTime();
        try (ModuleTrainer trainer = new ModuleTrainer(model, trainable, root, s.seed() + 1, optim)) {
            if (pretrained != null) {
                List<String> fresh = Pretrained.load(trainer.store(), pretrained,
                        n -> n.startsWith(SequenceClassifier.HEAD + "."));
                log.printf("%s: loaded the pre-trained encoder; fresh: %s%n", name, fresh.size() > 6
                        ? fresh.subList(0, 6) + " ... (" + fresh.size() + ")" : fresh);
            }
            log.printf("%s: training %d of %d elements for %d steps%n", name, trainer.trainableElements(),
                    trainer.store().numel(), s.finetuneSteps());
            List<ShakespeareSpeakers.Line> train = data.trainLines();
            long key = CounterRng.key(s.seed(), "speakers.finetune");
            double avg = 0;
            for (int step = 0; step < s.finetuneSteps(); step++) {
                int[] idx = new int[s.finetuneBatch()];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = (int) CounterRng.below(CounterRng.key(key, step), i, train.size());
                }
                long[][] b = data.classificationBatch(train, idx, s.seqLen());
                double loss = trainer.step(step, ctx -> model.loss(b[0], b[1], idx.length, s.seqLen(), ctx));
                avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
                if ((step + 1) % 200 == 0 || step == s.finetuneSteps() - 1) {
                    log.printf("  %s step %5d  loss %.4f  test accuracy %.2f%%%n", name, step + 1, avg,
                            100 * accuracy(model, data, trainer, s.seqLen()));
                }
            }
            double acc = accuracy(model, data, trainer, s.seqLen());
            if (cfg.lora().enabled()) {
                // only the adapters (and the head and pooler trained with them) are saved; merged into the pre-trained
                // weights, the model built without LoRA gives the same predictions
                Map<String, HostTensor> state = trainer.store().toHost();
                Predicate<String> alsoTrained = n -> n.startsWith(SequenceClassifier.HEAD + ".") || n.startsWith("pooler.");
                Path dir = s.runDir() != null ? Path.of(s.runDir()) : io(() -> Files.createTempDirectory("lora"));
                Path adapterFile = dir.resolve("lora-adapters.safetensors");
                io(() -> {
                    ModelFiles.saveAdapters(adapterFile, state, cfg.lora(), alsoTrained);
                    return null;
                });
                ModelFiles.Adapters saved = io(() -> ModelFiles.loadAdapters(adapterFile));
                Map<String, HostTensor> merged = ModelFiles.mergeAdapters(pretrained, saved);
                SequenceClassifier plain = new SequenceClassifier(cfg.withLora(LoraConfig.NONE), data.speakers().size());
                try (ModuleTrainer holder = new ModuleTrainer(plain, root, 0, optim)) {
                    Pretrained.load(holder.store(), merged, n -> false);
                    double mergedAcc = accuracy(plain, data, holder, s.seqLen());
                    long adapterElements = saved.tensors().values().stream().mapToLong(HostTensor::numel).sum();
                    log.printf("%s: saved %d tensors (%d elements) to %s; merged into the pre-trained weights: test "
                            + "accuracy %.2f%% (unmerged %.2f%%)%n", name, saved.tensors().size(), adapterElements,
                            adapterFile, 100 * mergedAcc, 100 * acc);
                    if (s.runDir() != null) {
                        Path mergedFile = dir.resolve("lora-merged.safetensors");
                        io(() -> {
                            ModelFiles.save(mergedFile, merged, Map.of("family", ModelFamilies.BERT.name()));
                            return null;
                        });
                    } else {
                        io(() -> {
                            Files.delete(adapterFile);
                            Files.delete(dir);
                            return null;
                        });
                    }
                }
            } else if (s.runDir() != null && pretrained != null) {
                Path f = Path.of(s.runDir(), "finetuned.safetensors");
                io(() -> {
                    ModelFiles.save(f, trainer.store().toHost(), Map.of("family", ModelFamilies.BERT.name()));
                    return null;
                });
                log.println("saved " + f);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            log.printf("%s: test accuracy %.2f%% (%.1f s)%n", name, 100 * acc, seconds);
            return new Outcome(name, acc, seconds, trainer.trainableElements());
        }
    }

    static double accuracy(SequenceClassifier model, ShakespeareSpeakers data, ModuleTrainer trainer, int t) {
        List<ShakespeareSpeakers.Line> test = data.testLines();
        int hits = 0;
        int chunk = 256;
        for (int from = 0; from < test.size(); from += chunk) {
            int n = Math.min(chunk, test.size() - from);
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) {
                idx[i] = from + i;
            }
            long[][] b = data.classificationBatch(test, idx, t);
            int[] pred = trainer.eval(ctx -> model.predict(b[0], n, t, ctx));
            for (int i = 0; i < n; i++) {
                hits += pred[i] == b[1][i] ? 1 : 0;
            }
        }
        return (double) hits / test.size();
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
