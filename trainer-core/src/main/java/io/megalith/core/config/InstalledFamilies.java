package io.megalith.core.config;

import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/** The model families' rules, from the {@link FamilyRules.Catalog} service (the family registry provides it). */
final class InstalledFamilies {
    private static final List<FamilyRules> FAMILIES = load();

    private InstalledFamilies() {}

    /** The names model.family accepts, in the registry's order. */
    static List<String> names() {
        return FAMILIES.stream().map(FamilyRules::name).toList();
    }

    /** The rules of the family named {@code name}, empty for an unknown name (or none). */
    static Optional<FamilyRules> find(String name) {
        return FAMILIES.stream().filter(f -> f.name().equals(name)).findFirst();
    }

    private static List<FamilyRules> load() {
        // the loader of config's classes: trainer-core's jar, which also holds the registry and its services file
        ServiceLoader<FamilyRules.Catalog> catalogs = ServiceLoader.load(FamilyRules.Catalog.class,
                FamilyRules.class.getClassLoader());
        List<FamilyRules.Catalog> found = catalogs.stream().map(ServiceLoader.Provider::get).toList();
        if (found.size() != 1) {
            throw new IllegalStateException("expected one model-family catalog (META-INF/services/"
                    + FamilyRules.Catalog.class.getName() + " of trainer-core), found " + found.size());
        }
        return List.copyOf(found.get(0).families());
    }
}
