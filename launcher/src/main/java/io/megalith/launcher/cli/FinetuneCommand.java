package io.megalith.launcher.cli;

import ai.djl.ndarray.NDManager;
import io.megalith.core.finetune.GptFinetune;
import io.megalith.core.finetune.GptFinetuneConfig;
import io.megalith.core.finetune.SpeakerConfig;
import io.megalith.core.finetune.SpeakerExperiment;
import io.megalith.core.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code megalith finetune}, dispatching on the config:
 * <ul>
 *   <li>{@code model.family: bert} with {@code data.task: classify | speakers} ({@code conf/bert-speakers-finetune.yaml},
 *       a {@code megalith train} config): BERT sequence classification through the launcher, as {@code megalith
 *       train} (DP x TP on Spark, checkpoints, resume), from the weights of {@code checkpoint.init_from};
 *   <li>{@code family: gpt} ({@code conf/gpt-finetune-*.yaml}, {@link GptFinetuneConfig}): fine-tune a GPT from a
 *       {@code megalith train} run or safetensors weights, on continued causal LM or prompt -> answer pairs, with
 *       frozen layers and/or LoRA adapters (saved alone and merged);
 *   <li>{@code model.family: bert} ({@code conf/bert-shakespeare-speakers.yaml}): the encoder family's pre-train /
 *       fine-tune pipeline: pre-train (or load run.pretrained), then fine-tune a sequence classifier fully
 *       (finetune.freeze: frozen name prefixes) and with LoRA adapters (finetune.lora), against training from
 *       scratch and the majority class.
 * </ul>
 */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Fine-tune: a BERT classifier through the launcher (model.family: bert, data.task: classify | "
                + "speakers; DP x TP as train), or on one rank a GPT (family: gpt; causal LM or prompt->answer, frozen "
                + "layers, LoRA) or the BERT speakers comparison (conf/bert-shakespeare-speakers.yaml).")
final class FinetuneCommand implements Callable<Integer> {
    static final String DEFAULT_CONFIG = "conf/bert-shakespeare-speakers.yaml";

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML config (default: " + DEFAULT_CONFIG + ")")
    Path config = Path.of(DEFAULT_CONFIG);

    @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE", description = "Override a config key, e.g. "
            + "--set finetune.steps=100 (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (isBertClassification(config, overrides)) {
            // a MegalithConfig (model.family bert, data.task classify | speakers): through the launcher as train
            TrainCommand train = new TrainCommand();
            train.config = config;
            train.overrides = overrides;
            return train.call();
        }
        if (GptFinetuneConfig.isGpt(config)) {
            GptFinetuneConfig.Loaded g = GptFinetuneConfig.load(config, overrides);
            Torch.load(g.threads());
            GptFinetune.Base base = GptFinetune.loadBase(g.settings(), new org.apache.hadoop.conf.Configuration(),
                    g.threads());
            try (NDManager manager = Torch.newManager()) {
                GptFinetune.run(g.settings(), base, manager, System.out);
            } finally {
                base.tokenizer().close();
            }
            return 0;
        }
        SpeakerConfig.Loaded cfg = SpeakerConfig.load(config, overrides);
        Torch.load(cfg.threads());
        try (NDManager manager = Torch.newManager()) {
            List<SpeakerExperiment.Outcome> outcomes = SpeakerExperiment.run(cfg.settings(), Files.readString(cfg.data()),
                    manager, System.out);
            System.out.println();
            System.out.print(SpeakerExperiment.table(outcomes));
        }
        return 0;
    }

    /** A launcher config for BERT sequence classification: data.task classify or speakers (file or --set). */
    static boolean isBertClassification(Path config, List<String> overrides) throws java.io.IOException {
        String task = null;
        for (String o : overrides) {
            if (o.startsWith("data.task=")) {
                task = o.substring("data.task=".length()).strip();
            }
        }
        if (task == null && Files.isRegularFile(config)) {
            com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper(
                    new com.fasterxml.jackson.dataformat.yaml.YAMLFactory()).readTree(config.toFile());
            task = root == null ? null : root.path("data").path("task").asText(null);
        }
        return "classify".equals(task) || "speakers".equals(task);
    }
}
