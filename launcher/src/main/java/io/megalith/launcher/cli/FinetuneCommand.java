package io.megalith.launcher.cli;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.config.ConfigException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.bert.speakers.SpeakerConfig;
import io.megalith.core.family.bert.speakers.SpeakerExperiment;
import io.megalith.core.tensor.Torch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code megalith finetune}, dispatching on the config's format:
 * <ul>
 *   <li>a config in the {@code megalith train} format runs exactly as {@code megalith train} does (the launcher,
 *       Spark barrier stage, parallel layouts, checkpoints, resume, --set) from the weights of
 *       {@code checkpoint.init_from}: a GPT ({@code conf/gpt-finetune-*.yaml}: a {@code finetune:} section,
 *       data.task pairs or text; a normal run directory plus, with LoRA, adapters.safetensors and
 *       merged.safetensors), or BERT sequence classification ({@code model.family: bert}, {@code data.task: classify
 *       | speakers}, {@code conf/bert-speakers-finetune.yaml});
 *   <li>{@code model.family: bert} ({@code conf/bert-shakespeare-speakers.yaml}): the encoder family's pre-train /
 *       fine-tune pipeline: pre-train (or load run.pretrained), then fine-tune a sequence classifier fully
 *       (finetune.freeze: frozen name prefixes) and with LoRA adapters (finetune.lora), against training from
 *       scratch and the majority class, each stage an in-process run of the bert family ({@link SpeakerExperiment}).
 * </ul>
 */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Fine-tune a trained model (checkpoint.init_from) with LoRA adapters or frozen layers, as "
                + "`megalith train` trains one.")
final class FinetuneCommand implements Callable<Integer> {
    static final String DEFAULT_CONFIG = "conf/bert-shakespeare-speakers.yaml";

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML config (default: " + DEFAULT_CONFIG + ")")
    Path config = Path.of(DEFAULT_CONFIG);

    @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE", description = "Override a config key, e.g. "
            + "--set train.max_steps=100 (repeatable)")
    List<String> overrides = new ArrayList<>();

    /** What a config file is: the train format, the BERT speaker experiment's own format, or the former GPT one. */
    enum Format { TRAIN, SPEAKER_EXPERIMENT, FORMER_GPT }

    /**
     * The train format (any family: it runs as {@code megalith train}) unless the file has a top-level {@code family}
     * (the former one-rank GPT format) or the BERT speaker experiment's own keys ({@code pretrain},
     * {@code run.pretrained}, {@code model.seq_len}, {@code data.test_fraction}), which the train format does not know.
     */
    static Format formatOf(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return Format.TRAIN; // ConfigLoader reports the missing file
        }
        JsonNode root = new YAMLMapper()
                .readTree(Files.readString(file));
        if (root == null || !root.isObject()) {
            return Format.TRAIN; // ConfigLoader names the problem
        }
        if (root.has("family")) {
            return Format.FORMER_GPT;
        }
        boolean speakers = ModelFamilies.BERT.named(root.path("model").path("family").asText()) && (root.has("pretrain")
                || root.path("run").has("pretrained") || root.path("model").has("seq_len")
                || root.path("data").has("test_fraction"));
        return speakers ? Format.SPEAKER_EXPERIMENT : Format.TRAIN;
    }

    static boolean isTrainFormat(Path file) throws IOException {
        return formatOf(file) == Format.TRAIN;
    }

    @Override
    public Integer call() throws Exception {
        Format format = formatOf(config);
        if (format == Format.TRAIN) {
            // the model's shape comes from the base run where the config leaves it unset
            MegalithConfig cfg = TrainCommand.load(config, BaseShape.overrides(config,
                    overrides));
            if (!cfg.finetune().active() && cfg.checkpoint().initFrom().isEmpty()) {
                System.out.println("megalith: warning: " + config + " neither sets checkpoint.init_from nor a "
                        + "finetune section: this is plain training (megalith train)");
            }
            TrainCommand.report(cfg, TrainCommand.launch(cfg, config.toString(), System.out), System.out);
            return 0;
        }
        if (format == Format.FORMER_GPT) {
            // the one-rank GPT format (family: gpt, base/task/output sections) was replaced by the train format
            throw new ConfigException(config.toString(), "family: top-level key of the former "
                    + "one-rank GPT fine-tuning format; write the config in the `megalith train` format instead: "
                    + "checkpoint.init_from (was base.run / base.safetensors + checkpoint.init_tokenizer), data.task "
                    + "pairs with data.path or data.builtin (was task.*), finetune.lora / finetune.freeze (was "
                    + "finetune.*; freeze_blocks N: freeze [blocks.0., ...]), train.max_steps / batch_size / lr, run.dir "
                    + "(was output.dir); see conf/gpt-finetune-upper.yaml");
        }
        SpeakerConfig.Loaded cfg = SpeakerConfig.load(config, overrides); // model.family: bert speaker experiments
        Torch.load(cfg.threads());
        try (NDManager manager = Torch.newManager()) {
            List<SpeakerExperiment.Outcome> outcomes = SpeakerExperiment.run(cfg.settings(), Files.readString(cfg.data()),
                    manager, System.out);
            System.out.println();
            System.out.print(SpeakerExperiment.table(outcomes));
        }
        return 0;
    }
}
