use obs_runtime::track_request;

trait Users {
    #[track_request("GET", "/users")]
    fn get_users(&self);
}

fn main() {}
