package io.megalith.examples;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.megalith.core.finetune.SpeakerExperiment;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The encoder family end to end (see conf/bert-shakespeare-speakers.yaml): pre-train a character-level BERT
 * (MLM + NSP) on tinyshakespeare, fine-tune it to tell who speaks a line, and compare with training from
 * scratch, LoRA fine-tuning and the majority class.
 * {@code BertShakespeareSpeakers [conf/bert-shakespeare-speakers.yaml] [section.key=value ...]}
 */
public final class BertShakespeareSpeakers {
    private BertShakespeareSpeakers() {}

    public static void main(String[] args) throws Exception {
        Path config = Path.of(args.length > 0 ? args[0] : "conf/bert-shakespeare-speakers.yaml");
        YAMLMapper yaml = new YAMLMapper();
        ObjectNode root = (ObjectNode) yaml.readTree(Files.readString(config));
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            String[] path = args[i].substring(0, eq).split("\\.");
            ObjectNode at = root;
            for (int j = 0; j < path.length - 1; j++) {
                at = (ObjectNode) at.get(path[j]);
            }
            if (!at.has(path[path.length - 1])) {
                throw new IllegalArgumentException("unknown key " + args[i].substring(0, eq));
            }
            at.set(path[path.length - 1], yaml.readTree(args[i].substring(eq + 1)));
        }
        JsonNode m = root.get("model");
        JsonNode d = root.get("data");
        JsonNode p = root.get("pretrain");
        JsonNode f = root.get("finetune");
        JsonNode l = f.get("lora");
        List<String> freeze = new ArrayList<>();
        f.get("freeze").forEach(n -> freeze.add(n.asText()));
        List<String> targets = new ArrayList<>();
        l.get("targets").forEach(n -> targets.add(n.asText()));
        SpeakerExperiment.Settings s = new SpeakerExperiment.Settings(root.get("seed").asLong(), d.get("speakers").asInt(),
                d.get("test_fraction").asDouble(), m.get("seq_len").asInt(), m.get("n_layer").asInt(),
                m.get("n_head").asInt(), m.get("n_embd").asInt(), m.get("dropout").asDouble(), m.get("pre_ln").asBoolean(),
                m.get("nsp").asBoolean(), p.get("steps").asInt(), p.get("batch_size").asInt(), p.get("lr").asDouble(),
                f.get("steps").asInt(), f.get("batch_size").asInt(), f.get("lr").asDouble(), freeze,
                new LoraConfig(l.get("rank").asInt(), l.get("alpha").asDouble(), targets), l.get("lr").asDouble());
        Torch.load(root.get("runtime").get("threads").asInt());
        String text = Files.readString(Path.of(d.get("path").asText()));
        try (NDManager manager = Torch.newManager()) {
            List<SpeakerExperiment.Outcome> outcomes = SpeakerExperiment.run(s, text, manager, System.out);
            System.out.println();
            System.out.printf("%-60s %9s %12s %8s%n", "variant", "accuracy", "trained", "time");
            for (SpeakerExperiment.Outcome o : outcomes) {
                System.out.printf("%-60s %8.2f%% %12d %7.1fs%n", o.name(), 100 * o.accuracy(), o.trainable(), o.seconds());
            }
        }
    }
}
