"""Word lists for names and free text. Plain ASCII so that names slug into email addresses."""

# Company names are "<first> <second> <suffix>": 60 x 60 x 30 = 108,000 distinct names.
COMPANY_FIRST = (
    "Blue", "Red", "Green", "Silver", "Golden", "North", "South", "East", "West", "Bright",
    "Swift", "Clear", "Bold", "Quiet", "Rapid", "Prime", "True", "Open", "Grand", "Little",
    "Upper", "Lower", "Old", "New", "High", "Deep", "Wide", "Iron", "Stone", "Cedar",
    "Maple", "Oak", "Pine", "Willow", "Birch", "Aspen", "Coral", "Amber", "Ivory", "Scarlet",
    "Crimson", "Azure", "Indigo", "Violet", "Lunar", "Solar", "Polar", "Arctic", "Coastal", "Alpine",
    "Urban", "Rural", "Metro", "Civic", "Noble", "Royal", "Pioneer", "Summit", "Harbor", "Canyon",
)
COMPANY_SECOND = (
    "Harbor", "River", "Peak", "Field", "Bridge", "Forge", "Anchor", "Beacon", "Compass", "Lantern",
    "Falcon", "Eagle", "Hawk", "Fox", "Wolf", "Bear", "Otter", "Heron", "Raven", "Lynx",
    "Meadow", "Valley", "Ridge", "Grove", "Creek", "Lake", "Bay", "Island", "Mesa", "Prairie",
    "Orbit", "Vector", "Pixel", "Signal", "Circuit", "Quantum", "Matrix", "Nimbus", "Vertex", "Prism",
    "Spark", "Flare", "Ember", "Tide", "Wave", "Current", "Breeze", "Frost", "Thunder", "Comet",
    "Atlas", "Crest", "Keystone", "Landmark", "Gateway", "Pathway", "Horizon", "Frontier", "Haven", "Foundry",
)
COMPANY_SUFFIX = (
    "Labs", "Systems", "Logistics", "Health", "Foods", "Partners", "Group", "Works", "Analytics", "Retail",
    "Media", "Capital", "Energy", "Robotics", "Software", "Clinics", "Motors", "Studios", "Textiles", "Foods Co",
    "Insurance", "Bank", "Pharma", "Freight", "Hotels", "Academy", "Consulting", "Networks", "Devices", "Markets",
)
INDUSTRIES = (
    "Technology", "Manufacturing", "Retail", "Healthcare", "Financial Services", "Logistics",
    "Media", "Education", "Hospitality", "Energy", "Professional Services", "Telecommunications",
)

FIRST_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
    "Mia", "William", "Amelia", "Benjamin", "Harper", "Lucas", "Evelyn", "Henry", "Abigail", "Alexander",
    "Emily", "Daniel", "Ella", "Michael", "Elizabeth", "Mason", "Sofia", "Ethan", "Avery", "Logan",
    "Scarlett", "Jacob", "Grace", "Jackson", "Chloe", "Sebastian", "Victoria", "Aiden", "Riley", "Matthew",
    "Aria", "Samuel", "Lily", "David", "Aurora", "Joseph", "Zoey", "Carter", "Nora", "Owen",
    "Hannah", "Wyatt", "Lucy", "John", "Paisley", "Jack", "Layla", "Luke", "Stella", "Jayden",
    "Hazel", "Dylan", "Violet", "Levi", "Claire", "Isaac", "Naomi", "Gabriel", "Alice", "Julian",
    "Yuki", "Haruto", "Sakura", "Ren", "Aiko", "Kenji", "Mei", "Hiroshi", "Priya", "Arjun",
    "Ananya", "Rohan", "Fatima", "Omar", "Leila", "Youssef", "Ingrid", "Lars", "Astrid", "Sven",
    "Chiara", "Marco", "Lucia", "Mateo", "Camila", "Diego", "Zara", "Tariq", "Nadia", "Felix",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Tanaka", "Suzuki", "Sato", "Watanabe", "Yamamoto", "Nakamura", "Kobayashi", "Kato", "Patel", "Sharma",
    "Singh", "Kumar", "Gupta", "Khan", "Ali", "Hassan", "Ibrahim", "Muller", "Schmidt", "Schneider",
    "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Larsen", "Hansen", "Nielsen", "Berg",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Silva", "Santos", "Costa", "Oliveira",
    "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Kowalski", "Novak", "Petrov", "Ivanova",
)

CONTACT_TITLES = (
    "Operations Manager", "Head of Operations", "Data Analyst", "IT Manager", "VP Operations",
    "Finance Manager", "Product Manager", "Engineering Manager", "COO", "Business Analyst",
)
CHAMPION_TITLES = ("Head of Operations", "Operations Manager", "Director of Analytics", "VP Operations")

TASK_KINDS = (  # (Subject, Type)
    ("Check-in call", "Call"), ("Follow-up email", "Email"), ("Adoption review", "Call"),
    ("Send usage report", "Email"), ("Follow up on support ticket", "Call"),
    ("Renewal discussion", "Call"), ("Share best practices", "Email"),
)
TASK_DESCRIPTIONS = (
    "Walked through dashboards and reports.", "Discussed upcoming priorities and blockers.",
    "Shared the latest release notes.", "Reviewed open support tickets.",
    "Agreed next steps for the integration rollout.", "Confirmed stakeholders for the renewal.",
)
EVENT_SUBJECTS = ("Quarterly business review", "Onboarding session", "Product walkthrough",
                  "Renewal planning", "Executive sponsor meeting")

TICKET_SUBJECTS = {
    "Question": ("How do I share a dashboard?", "Export to CSV question", "Changing my plan",
                 "Adding users to the workspace", "Where do I find the audit log?"),
    "Incident": ("Dashboards not loading", "Login fails with SSO", "Sync stuck since this morning",
                 "Alerts not firing"),
    "Problem": ("Report totals do not match source", "Slow dashboard performance",
                "Integration drops records", "Automation runs twice"),
    "Feature Request": ("Scheduled PDF exports", "More chart types", "Custom roles",
                        "Webhook for alerts"),
}
ESCALATION_SUBJECTS = ("Data sync failing for all users - business critical",
                       "Repeated outages blocking month-end reporting",
                       "Integration broken after upgrade, executives escalating")
TICKET_TAGS = ("billing", "api", "sso", "bug", "onboarding")

NPS_COMMENTS = {
    "promoter": ("Great product, the team loves the dashboards.", "Saves us hours every week.",
                 "Support is fast and helpful."),
    "passive": ("Does the job.", "Good, but reporting could be more flexible.",
                "Fine overall, a few rough edges."),
    "detractor": ("Too many outages lately.", "Hard to get value for the price.",
                  "Support takes too long to resolve issues."),
}

TOURS = (  # (tour_id, steps)
    ("onboarding_welcome", 5), ("dashboards_intro", 4), ("alerts_setup", 3),
    ("integrations_tour", 4), ("automation_tour", 5),
)

FEATURE_REQUEST_TITLES = (
    "Scheduled PDF exports", "Custom roles and permissions", "Dark mode", "More chart types",
    "Slack notifications for alerts", "Salesforce two-way sync", "Bulk user import",
    "API rate limit increase", "Audit log export", "Dashboard folders", "SAML group mapping",
    "Alert snoozing", "Report templates", "Data retention settings", "Embedded dashboards",
)
FEATURE_REQUEST_CATEGORIES = ("Dashboards", "Reports", "Alerts", "Integrations", "Automation",
                              "Admin", "API")
